"""Topic provisioning in code: what every topic of the pipeline should look like, and making it so.

Idempotent: a second run reports every topic ``unchanged``. Configuration drift (retention, cleanup policy,
compression, ``min.insync.replicas``) is corrected; a partition count that differs from the plan is REPORTED,
never applied, because adding partitions moves keys (symbols) to other partitions and breaks per-symbol order.
``dry_run`` only reports. The jobs only create what is missing (:func:`create_missing_topics`): correcting drift
is the operator's ``topics ensure``, whose settings a job must not undo.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from ops.admin import Admin
from schemas.catalog import DERIVED_SCHEMAS, RAW_SCHEMAS

__all__ = ["Change", "TopicSpec", "create_missing_topics", "default_specs", "ensure_topics", "replication_factor"]

FOREVER = "-1"
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """The desired shape of one topic."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """One finding of :func:`ensure_topics`: ``create``, ``config``, ``partitions`` (reported only) or
    ``unchanged``."""

    topic: str
    kind: str
    detail: str = ""
    applied: bool = False

    def line(self) -> str:
        """Human-readable summary."""
        state = "applied" if self.applied else ("NOT APPLIED" if self.kind == "partitions" else "planned")
        if self.kind == "unchanged":
            state = ""
        return f"{self.kind:<10} {self.topic:<45} {self.detail} {state}".rstrip()


def default_specs(
    partitions: int = 6, replication_factor: int = 1, min_insync_replicas: int = 1, topics: Mapping[str, str] = {}
) -> list[TopicSpec]:
    """The pipeline's topics: raw ones kept forever (backtests), derived ones 90 days, dead letters 30 days.

    ``topics`` maps a schema name to a topic name that replaces its default.
    """
    common = {"min.insync.replicas": str(min_insync_replicas), "compression.type": "producer"}
    retention = {
        "ticker_v2": FOREVER,
        "depth50": FOREVER,
        "kline": FOREVER,
        "dead_letter": str(30 * DAY_MS),
        "late_event": str(30 * DAY_MS),
    }
    specs = []
    for schema in (*RAW_SCHEMAS, *DERIVED_SCHEMAS):
        config = {**common, "cleanup.policy": "delete", "retention.ms": retention.get(schema.name, str(90 * DAY_MS))}
        name = topics.get(schema.name, schema.default_topic)
        specs.append(TopicSpec(name, partitions, replication_factor, config))
    return specs


def create_missing_topics(cluster: Admin, specs: Iterable[TopicSpec]) -> list[Change]:
    """Create the topics of ``specs`` that do not exist; existing ones stay exactly as they are. What a job does at
    start: the settings an operator gave ``topics ensure`` (replication, ``min.insync.replicas``, retention) stand.
    A cluster that refuses us or does not answer raises :class:`ops.admin.ClusterError`."""
    return _create_missing(cluster, list(specs), dry_run=False)[0]


def ensure_topics(cluster: Admin, specs: Iterable[TopicSpec], dry_run: bool = False) -> list[Change]:
    """Create missing topics and correct configuration drift; report partition mismatches. A cluster that refuses
    us or does not answer raises :class:`ops.admin.ClusterError` first."""
    specs = list(specs)
    changes, metadata = _create_missing(cluster, specs, dry_run)
    admin = cluster.client
    created = {change.topic for change in changes}
    existing = [spec for spec in specs if spec.name in metadata.topics and spec.name not in created]
    if not existing:
        return changes

    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in existing])
    current = {resource.name: future.result(timeout=30) for resource, future in described.items()}
    for spec in existing:
        found: list[Change] = []
        partitions = len(metadata.topics[spec.name].partitions)
        if partitions != spec.partitions:
            found.append(Change(spec.name, "partitions", f"has {partitions}, plan says {spec.partitions}"))
        drift = {
            key: value
            for key, value in spec.config.items()
            if key not in current[spec.name] or current[spec.name][key].value != value
        }
        if drift:
            detail = ", ".join(
                f"{k}: {current[spec.name].get(k).value if k in current[spec.name] else None} -> {v}"
                for k, v in drift.items()
            )
            if not dry_run:
                entries = [
                    ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET) for key, value in drift.items()
                ]
                resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=entries)
                for future in admin.incremental_alter_configs([resource]).values():
                    future.result(timeout=30)
            found.append(Change(spec.name, "config", detail, not dry_run))
        changes += found or [Change(spec.name, "unchanged")]
    return changes


def replication_factor(metadata: ClusterMetadata, topic: str) -> int:
    """How many replicas ``topic`` (which must exist) has: those of its first partition."""
    return len(next(iter(metadata.topics[topic].partitions.values())).replicas)


def _create_missing(cluster: Admin, specs: list[TopicSpec], dry_run: bool) -> tuple[list[Change], ClusterMetadata]:
    """The ``create`` changes for the topics of ``specs`` that do not exist (made unless ``dry_run``), and the
    cluster's metadata after them."""
    metadata = cluster.metadata()
    admin = cluster.client
    missing = [spec for spec in specs if spec.name not in metadata.topics]
    if missing and not dry_run:
        futures = admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config)) for s in missing]
        )
        for name, future in futures.items():
            try:
                future.result(timeout=60)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # created meanwhile: check it below
                    raise
                missing = [s for s in missing if s.name != name]
        metadata = _wait_for_topics(admin, [s.name for s in specs])
    changes = [
        Change(s.name, "create", f"{s.partitions} partitions x{s.replication_factor}", not dry_run) for s in missing
    ]
    return changes, metadata


def _wait_for_topics(admin: AdminClient, names: list[str], timeout: float = 30.0) -> ClusterMetadata:
    """Metadata once every topic in ``names`` is visible (creation reaches the metadata cache a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout)
        if all(name in metadata.topics for name in names) or time.monotonic() > deadline:
            return metadata
        time.sleep(0.1)
