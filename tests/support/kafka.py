"""Small helpers for integration tests: per-test topics and reading a topic to its end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

__all__ = ["create_topics", "read_all", "unique_name"]


def unique_name(prefix: str) -> str:
    """A topic (or group, or transactional id) name no other test uses."""
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in prefix)[:120]
    return f"{safe}-{uuid.uuid4().hex[:10]}"


def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> None:
    """Create topics and wait until the broker confirms each."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    for future in futures.values():
        future.result(timeout=30)


def read_all(
    bootstrap: str,
    topic: str,
    isolation: str = "read_committed",
    decode: Callable[[Message], Any] | None = None,
    timeout: float = 30.0,
) -> list[Any]:
    """Every record of ``topic`` from the beginning to the end offsets seen at the call (per partition order)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("read-all"),
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        partitions = [TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=timeout)[1] for tp in partitions}
        for tp in partitions:
            tp.offset = 0
        consumer.assign(partitions)
        out: list[Any] = []
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                # read_committed stops at the last stable offset: control records count toward the end offset.
                for p in list(remaining):
                    position = consumer.position([TopicPartition(topic, p)])[0].offset
                    if position >= ends[p]:
                        remaining.discard(p)
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(error)
            out.append(decode(msg) if decode else msg)
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            if offset + 1 >= ends[partition]:
                remaining.discard(partition)
        if remaining:
            raise TimeoutError(f"{topic}: partitions {sorted(remaining)} not read to their end in {timeout} s")
        return out
    finally:
        consumer.close()
