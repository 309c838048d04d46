"""A broker of a test's own, for tests that stop, restart or kill Kafka without disturbing the session's broker."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ops import config
from ops.stack.local import LocalStack

__all__ = ["PrivateKafka", "private_kafka"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateKafka:
    """One single-node broker on free ports, with its own data, sharing the jar cache of the main stack."""

    def __init__(self, root: Path) -> None:
        base = config.load({})
        home = root / "private-stack"
        home.mkdir(parents=True)
        (base.home / "cache").mkdir(parents=True, exist_ok=True)
        (home / "cache").symlink_to(base.home / "cache", target_is_directory=True)
        settings = replace(base, home=home, kafka_port=_free_port(), kafka_controller_port=_free_port())
        self._stack = LocalStack(settings, say=lambda _: None)
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


@contextmanager
def private_kafka(root: Path) -> Iterator[PrivateKafka]:
    """A started :class:`PrivateKafka`, stopped at the end whatever happens."""
    kafka = PrivateKafka(root)
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
