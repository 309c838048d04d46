"""The Kafka side of replay: resolve topics and offsets, fetch, and feed the pure :class:`Merger`.

The only module here that imports ``confluent_kafka``'s consumer. It reads with ``isolation.level =
read_committed`` and partition EOF events, so a partition ends at its last stable offset even when that is a
transaction marker; fetch timing never reaches the output, whose order the merger alone decides.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby, repeat
from operator import is_not, itemgetter
from types import TracebackType
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from ops.connections import kafka_config
from processors.replay.decode import topic_decoder
from processors.replay.errors import ReplayError, RetentionError, UnknownTopicError
from processors.replay.merge import Batch, Merger, Replayed, Source
from processors.replay.request import ReplayRequest
from processors.replay.times import format_ms
from schemas.catalog import ALL_SCHEMAS, RecordSchema, subject_for
from schemas.registry import registry_client

__all__ = ["PartitionPlan", "Replay", "resolve_schema"]

_BATCH = 10_000
_POLL_S = 0.5
_STALL_S = 60.0
_TIMEOUT_S = 30.0
_TIMESTAMP_MS = itemgetter(1)
_YIELD_CHUNK = 256
"""Records decoded at a time: few enough to be in the CPU caches still when the caller uses them."""
_MAX_BUFFERED = 200_000
"""Above this many merged-but-unsent records, pause the partitions the merge is not waiting for."""


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """Where one partition's read starts and (at the latest) ends."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int


def _fullname(definition: dict[str, Any]) -> str:
    namespace = definition.get("namespace")
    return f"{namespace}.{definition['name']}" if namespace else str(definition["name"])


def resolve_schema(client: SchemaRegistryClient, topic: str) -> RecordSchema:
    """The catalog schema of ``topic``: by default topic name, else by the record name its subject holds."""
    for schema in ALL_SCHEMAS:
        if schema.default_topic == topic:
            return schema
    try:
        latest = client.get_latest_version(subject_for(topic))
    except SchemaRegistryError:
        raise UnknownTopicError(
            f"topic {topic!r} is not a default topic and has no schema under subject {subject_for(topic)!r}"
        ) from None
    name = _fullname(json.loads(latest.schema.schema_str or "{}"))
    for schema in ALL_SCHEMAS:
        if _fullname(schema.definition) == name:
            return schema
    raise UnknownTopicError(f"topic {topic!r} holds {name} records, which no schema of the catalog describes")


class Replay:
    """One replay: planned when built (bad requests fail here, before any record), iterated once.

    Use as a context manager, or call :meth:`close`; iterating yields :class:`Replayed` in merge order.
    """

    def __init__(self, request: ReplayRequest, bootstrap_servers: str, registry: SchemaRegistryClient | str) -> None:
        self.request = request
        self._client = registry_client(registry) if isinstance(registry, str) else registry
        self._consumer = Consumer(
            kafka_config(
                bootstrap_servers,
                {
                    "group.id": "kucoin-kafka-replay",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "isolation.level": "read_committed",
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                    "fetch.max.bytes": 64 * 1024 * 1024,
                    "max.partition.fetch.bytes": 8 * 1024 * 1024,
                },
            )
        )
        try:
            partitions = {topic: self._partitions_of(topic) for topic in request.topics}
            self.schemas = {topic: resolve_schema(self._client, topic) for topic in request.topics}
            self.plan = self._plan(partitions)
        except (KafkaException, SchemaRegistryError, OSError) as exc:
            self._consumer.close()
            raise ReplayError(f"planning the replay: {exc}") from exc
        except BaseException:
            self._consumer.close()
            raise
        self._iterated = False
        self.merger: Merger | None = None

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the consumer (idempotent)."""
        self._consumer.close()

    @property
    def upper_bound(self) -> int:
        """At most this many records are read (offset span of the plan)."""
        return sum(p.end_offset - p.start_offset for p in self.plan)

    def _partitions_of(self, topic: str) -> list[int]:
        """The topic's partitions, from its own metadata (the whole cluster's is fetched only to name close
        matches of an unknown topic: it can take longer than a replay)."""
        found = self._consumer.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
        if found is None or found.error is not None:
            known = [t for t in self._consumer.list_topics(timeout=_TIMEOUT_S).topics if not t.startswith("_")]
            close = difflib.get_close_matches(topic, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownTopicError(f"unknown topic {topic!r} ({len(known)} topics on the cluster){hint}")
        return sorted(found.partitions)

    def _plan(self, partitions: dict[str, list[int]]) -> list[PartitionPlan]:
        start_ms = self.request.time_range.start_ms
        plan: list[PartitionPlan] = []
        for topic in self.request.topics:
            wanted = [TopicPartition(topic, p, start_ms) for p in partitions[topic]]
            found = self._consumer.offsets_for_times(wanted, timeout=_TIMEOUT_S)
            for tp in found:
                low, high = self._consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S, cached=False)
                start = high if tp.offset < 0 else tp.offset  # -1: no record at or after start_ms
                if start == low > 0 and not self.request.clip_to_retention:
                    self._refuse_retention(topic, tp.partition, low)
                plan.append(PartitionPlan(topic, tp.partition, start, high))
        return plan

    def _refuse_retention(self, topic: str, partition: int, low: int) -> None:
        """The first offset at or after the range start is the oldest one kept: older records were deleted and
        may have been inside the range."""
        oldest = self._timestamp_at(topic, partition, low)
        raise RetentionError(
            f"{topic} partition {partition} keeps records from {format_ms(oldest)} on (older ones were deleted by "
            f"retention), so the range {self.request.time_range} may be incomplete; start after {format_ms(oldest)}"
        )

    def _timestamp_at(self, topic: str, partition: int, offset: int) -> int:
        self._consumer.assign([TopicPartition(topic, partition, offset)])
        try:
            deadline = time.monotonic() + _TIMEOUT_S
            while time.monotonic() < deadline:
                message = self._consumer.poll(_POLL_S)
                if message is not None and message.error() is None:
                    return int(message.timestamp()[1])
            raise ReplayError(f"{topic} partition {partition}: offset {offset} could not be read")
        finally:
            self._consumer.unassign()

    def __iter__(self) -> Iterator[Replayed]:
        if self._iterated:
            raise ReplayError("a Replay is iterated once; build another to replay again")
        self._iterated = True
        request = self.request
        decoders = {topic: topic_decoder(self._client, self.schemas[topic], topic) for topic in request.topics}
        index_of_topic = {topic: i for i, topic in enumerate(request.topics)}
        sources = [
            Source(
                p.topic,
                index_of_topic[p.topic],
                p.partition,
                p.end_offset,
                request.lateness_for(self.schemas[p.topic]),
                decoders[p.topic],
            )
            for p in self.plan
        ]
        merger = self.merger = Merger(sources, request.time_range, request.keys)
        for i, p in enumerate(self.plan):
            if p.start_offset >= p.end_offset:
                merger.finish(i)
        return self._run(merger)

    def _run(self, merger: Merger) -> Iterator[Replayed]:
        consumer = self._consumer
        index: dict[tuple[str | None, int | None], int] = {(p.topic, p.partition): i for i, p in enumerate(self.plan)}
        tps = [
            TopicPartition(p.topic, p.partition, p.start_offset) for i, p in enumerate(self.plan) if merger.is_open(i)
        ]
        if tps:
            consumer.assign(tps)
        paused: set[int] = set()
        last_progress = time.monotonic()
        while not merger.finished:
            with _gc_paused():
                messages = consumer.consume(_BATCH, _POLL_S) if tps else []
                ended = [i for i, batch in _batches(messages, index) if batch is None or merger.push(i, batch)]
                stop = sorted({i for i in ended if i not in paused})
                for i in ended:
                    merger.finish(i)
                if stop:
                    self._pause(stop)
                    paused.update(stop)
                if messages:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > _STALL_S:
                    raise ReplayError(f"no record fetched for {_STALL_S:.0f} s; is the cluster reachable?")
            while ready := _take_ready(merger):
                yield from ready
            self._throttle(merger, paused)

    def _partitions(self, indexes: list[int]) -> list[TopicPartition]:
        return [TopicPartition(self.plan[i].topic, self.plan[i].partition) for i in indexes]

    def _pause(self, indexes: list[int]) -> None:
        self._consumer.pause(self._partitions(indexes))

    def _throttle(self, merger: Merger, paused: set[int]) -> None:
        """Bound memory: while the merge buffer is large, fetch only the open partitions the merge waits for."""
        if merger.buffered > _MAX_BUFFERED:
            waiting = set(merger.blocking())
            newly = sorted(i for i in range(len(self.plan)) if merger.is_open(i) and i not in waiting | paused)
            if newly:
                self._pause(newly)
                paused.update(newly)
            return
        resume = sorted(i for i in paused if merger.is_open(i))
        if resume:
            self._consumer.resume(self._partitions(resume))
            paused.difference_update(resume)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused (if it runs) while a fetch is merged or records decoded, never while
    the caller has them: that work allocates only acyclic objects (strings, integers, records, tuples) by the
    hundred thousand, and a collection every 700 of them cost a third of the replay's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _take_ready(merger: Merger) -> list[Replayed]:
    """The next few records ready, decoded."""
    with _gc_paused():
        return merger.pop_ready(_YIELD_CHUNK)


def _batches(
    messages: list[Message], index: dict[tuple[str | None, int | None], int]
) -> Iterator[tuple[int, Batch | None]]:
    """Per run of consecutive messages from one partition: its plan index and its records as columns, or None at
    the partition's end (a partition EOF event)."""
    errors = list(map(Message.error, messages))
    failed = list(map(is_not, errors, repeat(None)))  # identity: a KafkaError does not compare with None
    if any(failed):
        for message, error in zip(messages, errors, strict=True):
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                raise ReplayError(f"reading {message.topic()} partition {message.partition()}: {error.str()}")
    start = 0
    for (topic, partition, eof), run in groupby(
        zip(map(Message.topic, messages), map(Message.partition, messages), failed, strict=True)
    ):
        size = len(list(run))
        run_messages = messages[start : start + size]
        start += size
        yield (
            index[(topic, partition)],
            None
            if eof
            else Batch(
                list(map(_TIMESTAMP_MS, map(Message.timestamp, run_messages))),
                cast(list[int], list(map(Message.offset, run_messages))),
                list(map(Message.key, run_messages)),
                list(map(Message.value, run_messages)),
            ),
        )
