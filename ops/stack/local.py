"""The local stack as one object: ``up``, ``down``, ``status``, ``logs``.

``up`` is idempotent (a healthy running service is left alone), waits for health with a clear timeout error that
points at the log, and refuses to start on a port something else holds. When ``KAFKA_BOOTSTRAP_SERVERS`` and
``SCHEMA_REGISTRY_URL`` name external services, nothing is started: those are checked and used instead.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ops.config import Settings
from ops.stack.errors import StackError
from ops.stack.install import install_apicurio, install_kafka, is_installed
from ops.stack.java import find_java
from ops.stack.kafka import format_storage, kafka_healthy, kafka_start_argv, server_properties
from ops.stack.processes import ServiceProcess
from ops.stack.registry import CCOMPAT_PATH, registry_healthy, registry_start_argv
from ops.stack.versions import APICURIO_VERSION, KAFKA_VERSION

__all__ = ["Endpoints", "LocalStack", "ServiceStatus"]

KAFKA_START_TIMEOUT_S = 90.0
REGISTRY_START_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where clients reach Kafka and the Confluent-compatible registry."""

    bootstrap_servers: str
    schema_registry_url: str


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One line of ``stack status``."""

    name: str
    version: str
    address: str
    pid: int | None
    healthy: bool
    log_file: Path | None

    def line(self) -> str:
        """Human-readable summary."""
        state = "healthy" if self.healthy else ("starting/unhealthy" if self.pid else "stopped")
        pid = f"pid {self.pid}" if self.pid else "no process"
        log = f"  log {self.log_file}" if self.log_file else ""
        return f"{self.name:<16} {self.version:<8} {self.address:<45} {state:<18} {pid}{log}"


class LocalStack:
    """Apache Kafka (KRaft, one node) and Apicurio Registry, run from jars resolved with Maven."""

    def __init__(
        self,
        settings: Settings,
        say: Callable[[str], None] = print,
        kafka_overrides: Mapping[str, str] | None = None,
    ) -> None:
        """``kafka_overrides``: broker properties written after the generated ones (so they win), e.g. a SASL
        listener for a test broker."""
        self._settings = settings
        self._say = say
        self._kafka_overrides = dict(kafka_overrides or {})
        home = settings.home
        self.kafka = ServiceProcess("kafka", home / "run" / "kafka.pid", home / "logs" / "kafka.log", "kafka.Kafka")
        self.registry = ServiceProcess(
            "schema-registry",
            home / "run" / "registry.pid",
            home / "logs" / "registry.log",
            "quarkus-run.jar",
        )

    @property
    def external(self) -> bool:
        """True when both services are configured externally and nothing local is managed."""
        return bool(self._settings.kafka_bootstrap_servers and self._settings.schema_registry_url)

    @property
    def endpoints(self) -> Endpoints:
        """The addresses clients should use (external ones when configured)."""
        s = self._settings
        return Endpoints(
            bootstrap_servers=s.kafka_bootstrap_servers or f"127.0.0.1:{s.kafka_port}",
            schema_registry_url=s.schema_registry_url or f"http://127.0.0.1:{s.registry_port}{CCOMPAT_PATH}",
        )

    def install(self) -> None:
        """Resolve the pinned Kafka and Apicurio distributions into the cache (idempotent)."""
        if is_installed(self._settings.home):
            return
        self._say(f"resolving Apache Kafka {KAFKA_VERSION} from Maven Central (cached after the first run)...")
        install_kafka(self._settings.home)
        self._say(f"resolving Apicurio Registry {APICURIO_VERSION} from Maven Central (cached after the first run)...")
        install_apicurio(self._settings.home)

    def up(self, with_registry: bool = True) -> Endpoints:
        """Start whatever is not running and wait until the services are healthy (Kafka alone if asked)."""
        endpoints = self.endpoints
        if self.external:
            self._say("KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL are set: using the external services.")
            self._wait("Kafka", lambda: kafka_healthy(endpoints.bootstrap_servers), None, KAFKA_START_TIMEOUT_S)
            self._wait(
                "schema registry",
                lambda: registry_healthy(endpoints.schema_registry_url),
                None,
                REGISTRY_START_TIMEOUT_S,
            )
            return endpoints
        self.install()
        started_kafka = self._start_kafka(endpoints)
        started_registry = with_registry and self._start_registry(endpoints)
        if started_kafka:
            self._wait("Kafka", lambda: kafka_healthy(endpoints.bootstrap_servers), self.kafka, KAFKA_START_TIMEOUT_S)
        if started_registry:
            self._wait(
                "schema registry",
                lambda: registry_healthy(endpoints.schema_registry_url),
                self.registry,
                REGISTRY_START_TIMEOUT_S,
            )
        return endpoints

    def down(self) -> None:
        """Stop both services (no-op for what is not running)."""
        for service in (self.registry, self.kafka):
            if service.stop():
                self._say(f"{service.name}: stopped")
            else:
                self._say(f"{service.name}: not running")

    def status(self) -> list[ServiceStatus]:
        """The state of each service."""
        endpoints = self.endpoints
        return [
            ServiceStatus(
                "kafka",
                KAFKA_VERSION if not self._settings.kafka_bootstrap_servers else "external",
                endpoints.bootstrap_servers,
                self.kafka.pid(),
                kafka_healthy(endpoints.bootstrap_servers),
                None if self._settings.kafka_bootstrap_servers else self.kafka.log_file,
            ),
            ServiceStatus(
                "schema-registry",
                APICURIO_VERSION if not self._settings.schema_registry_url else "external",
                endpoints.schema_registry_url,
                self.registry.pid(),
                registry_healthy(endpoints.schema_registry_url),
                None if self._settings.schema_registry_url else self.registry.log_file,
            ),
        ]

    def _start_kafka(self, endpoints: Endpoints) -> bool:
        if self._settings.kafka_bootstrap_servers:
            return False
        if self.kafka.pid() is not None:
            self._say(f"kafka: already running (pid {self.kafka.pid()})")
            return True
        s = self._settings
        _refuse_busy_port(s.kafka_port, "STACK_KAFKA_PORT")
        _refuse_busy_port(s.kafka_controller_port, "STACK_KAFKA_CONTROLLER_PORT")
        java = find_java(17, s.java_home, f"Apache Kafka {KAFKA_VERSION}")
        libs = install_kafka(s.home)
        data_dir = s.home / "data" / "kafka"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = s.home / "kafka" / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        overrides = "".join(f"{key}={value}\n" for key, value in self._kafka_overrides.items())
        config.write_text(server_properties(data_dir, s.kafka_port, s.kafka_controller_port) + overrides)
        format_storage(java, libs, config, data_dir, self.kafka.log_file)
        pid = self.kafka.start(kafka_start_argv(java, libs, config), cwd=s.home)
        self._say(f"kafka: starting (pid {pid}) on {endpoints.bootstrap_servers}, log {self.kafka.log_file}")
        return True

    def _start_registry(self, endpoints: Endpoints) -> bool:
        if self._settings.schema_registry_url:
            return False
        if self.registry.pid() is not None:
            self._say(f"schema-registry: already running (pid {self.registry.pid()})")
            return True
        s = self._settings
        _refuse_busy_port(s.registry_port, "STACK_REGISTRY_PORT")
        _refuse_busy_port(s.registry_port + 1, "STACK_REGISTRY_PORT (its management port is the next one)")
        java = find_java(21, s.java_home, f"Apicurio Registry {APICURIO_VERSION}")
        dist = install_apicurio(s.home)
        data_dir = s.home / "data" / "registry"
        data_dir.mkdir(parents=True, exist_ok=True)
        pid = self.registry.start(registry_start_argv(java, dist, data_dir, s.registry_port), cwd=dist)
        self._say(
            f"schema-registry: starting (pid {pid}) on {endpoints.schema_registry_url}, log {self.registry.log_file}"
        )
        return True

    def _wait(self, what: str, healthy: Callable[[], bool], service: ServiceProcess | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if healthy():
                self._say(f"{what}: healthy")
                return
            if service is not None and service.pid() is None:
                raise StackError(f"{what} exited during start-up:\n{_tail(service.log_file)}")
            time.sleep(0.5)
        where = f"; see {service.log_file}" if service is not None else ""
        raise StackError(f"{what} was not healthy after {timeout:.0f} s{where}")


def _refuse_busy_port(port: int, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise StackError(
                f"port {port} on 127.0.0.1 is already in use by another process; free it or choose another "
                f"with {variable}"
            )


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {log})"
