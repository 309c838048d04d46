"""Sink topics co-partitioned with the source, created or checked before a worker starts.

A derived record goes to the same partition number as the input record it comes from, through that partition's
transactional producer; that needs every sink to have exactly the source's partition count.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException

from ops.admin import Admin
from ops.topics import TopicSpec, create_missing_topics, replication_factor

__all__ = ["copartition"]

_TIMEOUT_S = 30.0


def copartition(bootstrap_servers: str, source: str, sinks: Iterable[str]) -> tuple[int, int]:
    """The source's partition count and replication factor, after creating missing sinks with both; raises
    ValueError for a sink (or the source) that cannot be co-partitioned, :class:`ops.admin.ClusterError` when Kafka
    refuses us or does not answer."""
    cluster = Admin(bootstrap_servers)
    metadata = cluster.metadata(_TIMEOUT_S)
    existing = {name: len(topic.partitions) for name, topic in metadata.topics.items() if topic.error is None}
    if source not in existing:
        raise ValueError(f"input topic {source} does not exist")
    partitions = existing[source]
    replication = replication_factor(metadata, source)
    wrong = {sink: existing[sink] for sink in sinks if sink in existing and existing[sink] != partitions}
    if wrong:
        raise ValueError(f"sinks {wrong} must have the {partitions} partitions of {source} (co-partitioning)")
    missing = sorted({sink for sink in sinks if sink not in existing})
    if missing:  # one created meanwhile by a concurrent worker of the job is fine: it has the same shape
        try:
            create_missing_topics(cluster, [TopicSpec(name, partitions, replication) for name in missing])
        except KafkaException as exc:
            raise ValueError(f"cannot create sinks {', '.join(missing)}: {exc.args[0].str()}") from exc
    return partitions, replication
