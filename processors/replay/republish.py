"""Re-publishing a replay into target topics: Avro through the registry, same keys and timestamps, paced.

Thin I/O around :class:`~processors.replay.pacing.Pacing` (when) and
:class:`~processors.replay.position.PositionFile` (where to resume). Each record keeps its key and its Kafka
timestamp (exchange time), so a target topic replays like its source. Delivery is idempotent; every checkpoint
flushes, fails on any delivery error, then saves the position (every ``checkpoint_s``, and at the end).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from ops.connections import kafka_config
from processors.replay.errors import ReplayError, UnknownTopicError
from processors.replay.merge import Replayed
from processors.replay.pacing import Pacing
from processors.replay.position import MergeKey, PositionFile
from schemas.catalog import RecordSchema
from schemas.codec import AvroCodec
from schemas.registry import codec_for

__all__ = ["RepublishResult", "republish", "target_codecs"]

_CHECKPOINT_S = 1.0
_MAX_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class RepublishResult:
    """What a run sent, what it skipped as already sent by an earlier run, and its final position."""

    sent: int
    skipped: int
    position: MergeKey | None
    max_late_s: float
    """Largest delay of a send behind its schedule (0 for maximum speed)."""


def target_codecs(
    client: SchemaRegistryClient, schemas: Mapping[str, RecordSchema], targets: Mapping[str, str]
) -> dict[str, tuple[str, AvroCodec[Any]]]:
    """Per source topic, its target topic and a codec registered under the target's subject."""
    return {source: (target, codec_for(client, schemas[source], target)) for source, target in targets.items()}


def republish(
    records: Iterable[Replayed],
    bootstrap_servers: str,
    targets: Mapping[str, tuple[str, AvroCodec[Any]]],
    pacing: Pacing,
    position: PositionFile | None = None,
    on_sent: Callable[[Replayed, float, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    checkpoint_s: float = _CHECKPOINT_S,
) -> RepublishResult:
    """Send ``records`` in order, each when :class:`Pacing` says, resuming after ``position`` if it has one.

    ``on_sent(record, wall time, records sent by this run)`` runs after each send and any checkpoint it caused.
    """
    producer = Producer(
        kafka_config(
            bootstrap_servers,
            {
                "enable.idempotence": True,
                "linger.ms": 0 if pacing.speed is not None else 20,
                "compression.type": "lz4",
            },
        )
    )
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(f"{message.topic()}: {error.str()}")

    missing = sorted({topic for topic, _ in targets.values()} - set(producer.list_topics(timeout=30).topics))
    if missing:
        raise UnknownTopicError(f"target topic(s) {', '.join(missing)} do not exist; create them first")
    saved = position.load() if position is not None else None
    resume, total = saved if saved is not None else (None, 0)
    sent = skipped = 0
    last: MergeKey | None = resume
    origin: tuple[float, int] | None = None
    max_late = 0.0
    next_checkpoint = clock() + checkpoint_s

    def checkpoint() -> None:
        if producer.flush(30) != 0:
            raise ReplayError("records still undelivered after 30 s; the position was not advanced")
        if failures:
            raise ReplayError(f"delivery failed: {failures[0]} ({len(failures)} failures)")
        if position is not None and last is not None:
            position.save(last, total)

    for record in records:
        key: MergeKey = (record.merge_ts_ms, record.topic_index, record.partition, record.offset)
        if resume is not None and key <= resume:
            skipped += 1
            continue
        if origin is None:
            origin = (clock(), record.merge_ts_ms)
        due = pacing.due(origin[0], origin[1], record.merge_ts_ms)
        now = clock()
        while now < due:
            producer.poll(min(due - now, _MAX_POLL_S))
            now = clock()
        if pacing.speed is not None:
            max_late = max(max_late, now - due)
        topic, codec = targets[record.topic]
        while True:
            try:
                producer.produce(
                    topic, codec.encode(record.value), record.key, timestamp=record.timestamp_ms, on_delivery=delivered
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(_MAX_POLL_S)
        producer.poll(0)
        sent += 1
        total += 1
        last = key
        if now >= next_checkpoint:
            checkpoint()
            next_checkpoint = clock() + checkpoint_s
        if on_sent is not None:
            on_sent(record, now, sent)
    checkpoint()
    return RepublishResult(sent, skipped, last, max_late)
