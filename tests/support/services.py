"""Where the test session finds a REAL Kafka broker and schema registry.

In order: external services named by ``KAFKA_BOOTSTRAP_SERVERS`` + ``SCHEMA_REGISTRY_URL``; else containers
started with testcontainers when a Docker engine answers; else the project's local stack (jars from Maven
Central). If none can be had, the session FAILS with the reason: integration tests are never skipped for want of
a broker.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

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
    before = _topics(endpoints.bootstrap_servers)
    try:
        yield "local stack", endpoints
    finally:
        try:
            _delete_test_topics(endpoints.bootstrap_servers, before)
        finally:
            if not already_running:
                stack.down()


_TEST_NAME = re.compile(r"-[0-9a-f]{10}(?:-|$)")
"""The random part :func:`tests.support.kafka.unique_name` puts in every name a test makes (a Faust changelog
carries its group's)."""


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics)


def _delete_test_topics(bootstrap: str, before: set[str]) -> None:
    """Delete the topics with a test's name that this session created on the local stack, which outlives it: kept,
    they pile up run after run until the broker runs out of file descriptors (observed at ~54 GB of test topics).
    Best effort: a topic that will not go is left for the next session's broker to carry."""
    created = sorted(name for name in _topics(bootstrap) - before if _TEST_NAME.search(name))
    if not created:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(created, operation_timeout=60).values():
        with contextlib.suppress(KafkaException):
            future.result(timeout=120)
