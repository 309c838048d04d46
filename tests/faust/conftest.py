"""Fixtures of the Faust processor tests: a job's topics on the session's broker and registry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ops.stack.local import Endpoints
from processors.jobs import job
from tests.faust.harness import Job


@pytest.fixture
def make_job(services: Endpoints) -> Callable[..., Job]:
    """A job (by CLI name) with fresh input/output topics and group on the session's services."""

    def make(name: str, partitions: int = 3) -> Job:
        return Job(job(name), services.bootstrap_servers, services.schema_registry_url, partitions)

    return make
