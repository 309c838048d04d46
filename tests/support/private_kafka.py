"""A broker of a test's own, for tests that stop, restart or kill Kafka, or need a SASL listener, without
disturbing the session's broker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ops import config
from ops.stack.local import LocalStack
from tests.support.ports import free_port

__all__ = ["PrivateKafka", "private_kafka"]


def _sasl_plain_listener(port: int, controller_port: int, sasl_port: int, users: Mapping[str, str]) -> dict[str, str]:
    """Broker properties adding a ``SASL_PLAINTEXT`` listener (mechanism PLAIN) that knows ``users``."""
    accounts = " ".join(f'user_{name}="{password}"' for name, password in users.items())
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
        f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {accounts};"
        ),
    }


class PrivateKafka:
    """One single-node broker on free ports, with its own data, sharing the jar cache of the main stack.

    With ``sasl_users``, it also listens for SASL/PLAIN clients on :attr:`sasl_bootstrap_servers`; the plain
    listener stays open for the health check and for a test's own readers."""

    def __init__(self, root: Path, sasl_users: Mapping[str, str] | None = None) -> None:
        base = config.load({})
        home = root / "private-stack"
        home.mkdir(parents=True)
        (base.home / "cache").mkdir(parents=True, exist_ok=True)
        (home / "cache").symlink_to(base.home / "cache", target_is_directory=True)
        settings = replace(base, home=home, kafka_port=free_port(), kafka_controller_port=free_port())
        overrides: dict[str, str] = {}
        self.sasl_bootstrap_servers: str | None = None
        if sasl_users:
            sasl_port = free_port()
            overrides = _sasl_plain_listener(settings.kafka_port, settings.kafka_controller_port, sasl_port, sasl_users)
            self.sasl_bootstrap_servers = f"127.0.0.1:{sasl_port}"
        self._stack = LocalStack(settings, say=lambda _: None, kafka_overrides=overrides)
        self.bootstrap_servers = self._stack.endpoints.bootstrap_servers

    def start(self) -> None:
        """Start the broker (again) and wait until it is healthy."""
        self._stack.up(with_registry=False)

    def stop(self) -> None:
        """A clean shutdown."""
        self._stack.kafka.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        self._stack.kafka.kill()

    def freeze(self) -> None:
        """SIGSTOP: the broker keeps every connection open and answers nothing (a long GC pause, a partition)."""
        os.kill(self._pid(), signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        os.kill(self._pid(), signal.SIGCONT)

    def _pid(self) -> int:
        pid = self._stack.kafka.pid()
        if pid is None:
            raise RuntimeError("the private broker is not running")
        return pid


@contextmanager
def private_kafka(root: Path, sasl_users: Mapping[str, str] | None = None) -> Iterator[PrivateKafka]:
    """A started :class:`PrivateKafka`, stopped at the end whatever happens."""
    kafka = PrivateKafka(root, sasl_users)
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
