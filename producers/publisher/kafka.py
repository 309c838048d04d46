"""The Kafka side of the producers: idempotent, ``acks=all``, never giving up on a record, memory bounded.

librdkafka keeps records until the broker acknowledges them (``message.timeout.ms=0``: no record is dropped for
taking long), inside a bounded in-memory queue. When that queue is full (a broker outage longer than the memory
budget), records go to a :class:`~producers.publisher.spill.SpillQueue` on disk, and every later record follows
them there until the spill has drained, so per-symbol order is kept. A record leaves the spill only once Kafka
has acknowledged it. Once all of the spill is in librdkafka, newer records wait in memory (at most a batch) instead
of on disk, and go to librdkafka as soon as the spill is empty: under steady load the spill empties and the
publisher is back on the direct path one round trip after the backlog, instead of sending everything through
the disk for as long as records keep coming. On close, whatever the broker has not taken within the grace period
and is still queued is moved to the front of the spill for the next start (records held in memory go to its
back). Delivery errors that retrying cannot fix (a fatal idempotence error, an unknown topic, a record too large)
are recorded by the callback and raised by the next call.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from ops.connections import kafka_config
from producers.publisher.spill import SpilledRecord, SpillQueue

__all__ = ["DeliveryStats", "KafkaPublisher", "PublishError", "PublisherConfig"]

_LIBRDKAFKA_LOG = logging.getLogger("producers.publisher.librdkafka")
DEFAULT_MEMORY_BUDGET_KB = 128 * 1024
DRAIN_BATCH = 5_000


class PublishError(Exception):
    """Kafka refused a record for a reason retrying cannot fix."""


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    """How the publisher talks to Kafka."""

    bootstrap_servers: str
    memory_budget_kb: int = DEFAULT_MEMORY_BUDGET_KB
    linger_ms: int = 5
    compression: str = "lz4"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def librdkafka(self) -> dict[str, Any]:
        """The confluent-kafka producer configuration."""
        return kafka_config(self.bootstrap_servers) | {
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 0,  # never expire a record: an outage delays it, never drops it
            "queue.buffering.max.kbytes": self.memory_budget_kb,
            "queue.buffering.max.messages": 2_000_000,
            "linger.ms": self.linger_ms,
            "batch.size": 1_000_000,
            "compression.type": self.compression,
            "socket.nagle.disable": True,  # librdkafka leaves Nagle on; small acks=all requests then wait on it
            "logger": _LIBRDKAFKA_LOG,
            **self.extra,
        }


@dataclass(slots=True)
class DeliveryStats:
    """Running totals, read by the metrics layer."""

    produced: int = 0
    acknowledged: int = 0
    delivery_errors: int = 0
    spilled: int = 0
    drained_from_spill: int = 0


class KafkaPublisher:
    """Send records to Kafka in order per key, spilling to disk when memory is full; see the module doc."""

    def __init__(
        self,
        config: PublisherConfig,
        spill_dir: Path,
        on_ack: Callable[[Message], None] | None = None,
    ) -> None:
        self._producer = Producer(config.librdkafka())
        self._spill = SpillQueue(spill_dir)
        self._on_ack = on_ack
        self._failure: PublishError | None = None
        self._draining: list[bool] = []  # per record of the spill's front now in librdkafka: acknowledged yet?
        self._drained_prefix = 0  # how many of those the spill has already let go of
        self._purged: list[SpilledRecord] | None = None
        self._held: list[SpilledRecord] = []  # newer than the whole spill, which is draining: see the module doc
        self.stats = DeliveryStats()

    @property
    def spilled(self) -> int:
        """Records waiting on disk (including those being drained)."""
        return self._spill.count

    @property
    def queued(self) -> int:
        """Records in memory: librdkafka's queue, in flight, or held until the spill has drained."""
        return len(self._producer) + len(self._held)

    def publish(self, topic: str, key: bytes, value: bytes, timestamp_ms: int) -> None:
        """Hand one record over; it reaches Kafka exactly once unless :class:`PublishError` is raised later."""
        if self._failure is not None:
            raise self._failure
        if not self._spill.count:
            try:
                self._producer.produce(
                    topic,
                    value,
                    key,
                    timestamp=timestamp_ms,
                    on_delivery=functools.partial(self._delivered, timestamp_ms),
                )
                self.stats.produced += 1
                return
            except BufferError:
                pass
        record = SpilledRecord(topic, key, value, timestamp_ms)
        in_librdkafka = len(self._draining) - self._drained_prefix
        if self._spill.count and in_librdkafka == self._spill.count and len(self._held) < DRAIN_BATCH:
            self._held.append(record)
            return
        self._spill.append([*self._held, record])
        self.stats.spilled += len(self._held) + 1
        self._held.clear()

    def service(self, timeout: float = 0.0) -> None:
        """Serve delivery callbacks and move spilled records back into the producer as room frees up."""
        self._producer.poll(timeout)
        if self._failure is not None:
            raise self._failure
        prefix = self._drained_prefix
        while prefix < len(self._draining) and self._draining[prefix]:
            prefix += 1
        if prefix > self._drained_prefix:
            self._spill.acknowledge(prefix - self._drained_prefix)
            self._drained_prefix = prefix
        if self._draining and prefix == len(self._draining):
            self._draining, self._drained_prefix = [], 0
        if not self._draining and self._spill.count:
            self._drain_batch()
        elif not self._spill.count and self._held:
            held, self._held = self._held, []
            for record in held:
                self.publish(record.topic, record.key, record.value, record.timestamp_ms)

    def flush(self, timeout: float) -> bool:
        """Wait until everything (spill included) is acknowledged; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while True:
            self.service(0.0)
            if not self._spill.count and not self.queued:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._producer.flush(min(left, 0.2))

    def close(self, timeout: float) -> int:
        """Flush for up to ``timeout``; what Kafka has not taken stays in the spill for the next start.

        Returns how many records were left in the spill.
        """
        if not self.flush(timeout):
            self._purged = []
            self._producer.purge(in_queue=True, in_flight=False, blocking=True)
            self._producer.poll(0)
            self._spill.prepend(self._purged)
            self._purged = None
        self._spill.append(self._held)
        self._held.clear()
        self._spill.close()
        return self._spill.count

    def _drain_batch(self) -> None:
        for index, record in enumerate(self._spill.peek(DRAIN_BATCH)):
            try:
                self._producer.produce(
                    record.topic, record.value, record.key, timestamp=record.timestamp_ms,
                    on_delivery=functools.partial(self._delivered_from_spill, index),
                )  # fmt: skip
            except BufferError:
                break  # only a prefix of the spill is ever in flight; the rest waits for the next batch
            self._draining.append(False)
        self.stats.drained_from_spill += len(self._draining)

    def _delivered(self, timestamp_ms: int, err: KafkaError | None, msg: Message) -> None:
        # The timestamp travels with the callback: librdkafka reports none for a record purged before sending.
        if err is None:
            self.stats.acknowledged += 1
            if self._on_ack is not None:
                self._on_ack(msg)
        elif self._purged is not None and err.code() == KafkaError._PURGE_QUEUE:
            self._purged.append(SpilledRecord(msg.topic() or "", msg.key() or b"", msg.value() or b"", timestamp_ms))
        else:
            self._failed(err, msg)

    def _delivered_from_spill(self, index: int, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.stats.acknowledged += 1
            self._draining[index] = True
        elif err.code() not in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
            self._failed(err, msg)  # a purged spill record simply stays in the spill

    def _failed(self, err: KafkaError, msg: Message) -> None:
        self.stats.delivery_errors += 1
        if self._failure is None:
            self._failure = PublishError(f"Kafka refused a record for {msg.topic()}: {err.str()}")
