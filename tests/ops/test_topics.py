"""Topic provisioning against the real broker: idempotent, drift corrected, partition changes only reported."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from ops.admin import Admin
from ops.stack.local import Endpoints
from ops.topics import create_missing_topics, default_specs, ensure_topics, replication_factor
from schemas.catalog import ALL_SCHEMAS
from tests.support.kafka import unique_name

pytestmark = pytest.mark.integration


def _specs(prefix: str, partitions: int = 3) -> list:  # type: ignore[type-arg]
    return default_specs(partitions, topics={s.name: f"{prefix}.{s.default_topic}" for s in ALL_SCHEMAS})


def test_a_second_run_changes_nothing(services: Endpoints) -> None:
    cluster = Admin(services.bootstrap_servers)
    specs = _specs(unique_name("provision"))
    assert {c.kind for c in ensure_topics(cluster, specs, dry_run=True)} == {"create"}
    assert not cluster.client.list_topics(timeout=10).topics.keys() & {s.name for s in specs}, "dry run created topics"
    first = ensure_topics(cluster, specs)
    assert [c.kind for c in first] == ["create"] * len(specs) and all(c.applied for c in first)
    assert {c.kind for c in ensure_topics(cluster, specs)} == {"unchanged"}


def test_drift_is_corrected_and_a_partition_change_is_reported_not_applied(services: Endpoints) -> None:
    cluster = Admin(services.bootstrap_servers)
    admin = cluster.client
    specs = _specs(unique_name("drift"))
    ensure_topics(cluster, specs)
    ticker = specs[0]
    changed = [
        type(ticker)(ticker.name, 6, 1, {**ticker.config, "retention.ms": "3600000"}),
        *specs[1:],
    ]
    [*findings] = (c for c in ensure_topics(cluster, changed) if c.topic == ticker.name)
    kinds = {c.kind: c for c in findings}
    assert kinds["partitions"].detail == "has 3, plan says 6" and not kinds["partitions"].applied
    assert kinds["config"].applied and "retention.ms" in kinds["config"].detail
    assert len(admin.list_topics(ticker.name, timeout=10).topics[ticker.name].partitions) == 3
    resource = ConfigResource(ConfigResource.Type.TOPIC, ticker.name)
    deadline = time.monotonic() + 10  # the broker applies config changes asynchronously
    while (value := _retention(admin, resource)) != "3600000" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert value == "3600000"


def test_a_job_creates_what_is_missing_and_leaves_the_operators_settings_alone(services: Endpoints) -> None:
    cluster = Admin(services.bootstrap_servers)
    specs = _specs(unique_name("job"))
    ticker, rest = specs[0], specs[1:]
    operators = type(ticker)(ticker.name, 2, 1, {**ticker.config, "retention.ms": "3600000"})
    ensure_topics(cluster, [operators])  # as `topics ensure` with the operator's settings would
    changes = create_missing_topics(cluster, specs)
    assert sorted(c.topic for c in changes) == sorted(s.name for s in rest) and {c.kind for c in changes} == {"create"}
    resource = ConfigResource(ConfigResource.Type.TOPIC, ticker.name)
    assert _retention(cluster.client, resource) == "3600000", "a job must not undo the operator's settings"
    assert len(cluster.client.list_topics(ticker.name, timeout=10).topics[ticker.name].partitions) == 2
    assert replication_factor(cluster.metadata(), ticker.name) == 1  # one broker: what else
    assert create_missing_topics(cluster, specs) == []


def _retention(admin: AdminClient, resource: ConfigResource) -> str:
    config = next(iter(admin.describe_configs([resource]).values())).result(timeout=10)
    return str(config["retention.ms"].value)
