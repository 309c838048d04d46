"""Where the test session finds a REAL Kafka broker and schema registry.

In order: external services named by ``KAFKA_BOOTSTRAP_SERVERS`` + ``SCHEMA_REGISTRY_URL``; else containers
started with testcontainers when a Docker engine answers; else the project's local stack (jars from Maven
Central). If none can be had, the session FAILS with the reason: integration tests are never skipped for want of
a broker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ops.config import Settings
from ops.stack.local import Endpoints, LocalStack
from ops.stack.versions import APICURIO_VERSION, KAFKA_VERSION

__all__ = ["provide_services"]


def _docker_engine_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped,unused-ignore]

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:  # no SDK, no socket, no engine: all mean "no Docker here"
        return False
    return True


@contextlib.contextmanager
def _containers() -> Iterator[Endpoints]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer(f"apache/kafka:{KAFKA_VERSION}").with_kraft() as kafka:
        registry = DockerContainer(f"apicurio/apicurio-registry:{APICURIO_VERSION}").with_exposed_ports(8080)
        with registry:
            wait_for_logs(registry, "Listening on", timeout=120)
            url = f"http://{registry.get_container_host_ip()}:{registry.get_exposed_port(8080)}/apis/ccompat/v7"
            yield Endpoints(bootstrap_servers=kafka.get_bootstrap_server(), schema_registry_url=url)


@contextlib.contextmanager
def provide_services(settings: Settings, say: object = print) -> Iterator[tuple[str, Endpoints]]:
    """Yield ``(how, endpoints)`` for the session; raises with the reason when no real services can start."""
    stack = LocalStack(settings, say=print)
    if stack.external:
        yield "external", stack.up()
        return
    if _docker_engine_answers():
        with _containers() as endpoints:
            yield "testcontainers", endpoints
        return
    already_running = stack.kafka.pid() is not None and stack.registry.pid() is not None
    endpoints = stack.up()
    try:
        yield "local stack", endpoints
    finally:
        if not already_running:
            stack.down()
