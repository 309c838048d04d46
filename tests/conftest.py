"""Session-wide fixtures: the real Kafka + schema registry, and per-test names."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from ops import config
from ops.stack.local import Endpoints
from tests.support.kafka import create_topics, unique_name
from tests.support.services import provide_services


@pytest.fixture(scope="session")
def services() -> Iterator[Endpoints]:
    """The real broker and registry for this session (never a mock; fails loudly when none can start)."""
    started = time.monotonic()
    try:
        with provide_services(config.load()) as (how, endpoints):
            print(f"\nservices: {how} ({time.monotonic() - started:.1f} s): {endpoints}")
            yield endpoints
    except Exception as exc:
        pytest.fail(f"no real Kafka + schema registry could be started for the tests: {exc}", pytrace=False)


@pytest.fixture
def new_topic(services: Endpoints, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Create a topic named after the calling test (unique per call) and return its name."""

    def make(suffix: str = "", partitions: int = 1) -> str:
        name = unique_name(f"{request.node.name}{'-' + suffix if suffix else ''}")
        create_topics(services.bootstrap_servers, [name], partitions)
        return name

    return make
