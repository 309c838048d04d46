"""Project-level fix of Faust's exactly-once mode: every commit goes through our ordered checkpoint.

faust-streaming 0.15.3 with ``processing_guarantee="exactly_once"`` keeps one transactional producer per source
partition, but (read ``faust/transport/consumer.py`` and ``faust/transport/drivers/aiokafka.py``):

- ``TransactionManager.send`` picks the transactional producer from the *destination* topic's assignor group;
  a sink the app does not subscribe to has none (``key_partition`` returns ``None`` before metadata is known,
  or ``group_for_topic`` raises), and the record goes through the plain, non-transactional producer
  (faust-streaming#177, #517).
- Table changelog records go through ``ProducerBuffer`` (``send_soon``), drained by a background task;
  ``commit_transactions`` sends the offsets and commits without draining it, and ``ProducerBuffer.flush`` gives
  up after 0.1 s without a message, so a committed transaction can lack the state of the events it covers.
- The committed offsets are Faust's acks, taken when the stream fetches the *next* event and computed before
  the commit acquires the producer lock: an event whose outputs are already sent can be left out of the
  offsets of the transaction that holds them. Events skipped during a rebalance are acked unprocessed.
- Faust's stream drops events it fetched while flow control is suspended or the generation changed, and acks
  them unprocessed; observed here as a single event missing mid-stream right after a worker start, with the
  events around it processed. :class:`EosConsumer` records the order in which it hands out each partition's
  records (:class:`DeliveryLog`) and the agent fails the worker when one it never processed was passed over.
- ``begin_transaction``/``commit_transaction`` log and swallow every error except a fence.
- Table recovery in exactly-once mode waits for the changelog position to reach the last stable offset; the
  last offset is always a transaction marker, never delivered, so recovery only ends after two 5-second queue
  timeouts (``detect_aborted_tx``): 10 s of every restart. :class:`EosRecovery` targets the offset of the last
  committed *record* instead, found by reading the partition's tail read_committed, so recovery ends exactly
  when that record has been applied.
- Windowed tables close windows on wall-clock time, once per table, and drop late events (#323); we use no
  windowed table at all: bars are closed by the core on event time.

The fix, isolated here: :class:`EosConsumer` replaces Faust's commit by :class:`~processors.checkpoint.Checkpointer`
(offsets from what the agent processed under the gate; changelog, flush, offsets, commit in that order; abort
and crash on any error), and its acks are bookkeeping only. :class:`EosTransactionManager` refuses any send that
would bypass a transaction. Sinks are written by the agent through the source partition's transactional
producer, to the same partition number (sinks are created co-partitioned with the source).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, Protocol, cast

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import TransactionManager
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from mode.utils.futures import notify

from ops.connections import aiokafka_options

__all__ = [
    "EXIT_CRASHED",
    "CommitHook",
    "DeliveryLog",
    "EosApp",
    "EosConsumer",
    "EosRecovery",
    "EosTableManager",
    "EosTransactionManager",
    "EosTransport",
    "fatal",
    "faust_credentials",
]

log = logging.getLogger(__name__)

EXIT_CRASHED = 70


def fatal(reason: BaseException) -> NoReturn:
    """Exit now, without Faust's graceful stop: that stop commits, and after a failed checkpoint or event there
    is nothing safe to commit. Crash-only: the restart path (state and offsets from the last transaction) is the
    one the SIGKILL tests prove; the open transaction is aborted when the next owner fences it."""
    log.critical("stopping the worker after %r; a restart resumes from the last commit", reason, exc_info=reason)
    logging.shutdown()
    os._exit(EXIT_CRASHED)


class CommitHook(Protocol):
    """The job's checkpoint, as the consumer calls it."""

    async def commit(self, start_new: bool) -> dict[TP, int]:
        """Run a checkpoint; the committed offsets (empty when there was nothing to commit)."""
        ...


class DeliveryLog:
    """Per partition, the offsets the consumer delivered, in order, with a ``None`` where it seeked."""

    def __init__(self) -> None:
        self._delivered: dict[TP, deque[int | None]] = {}

    def delivered(self, tp: TP, offset: int) -> None:
        self._delivered.setdefault(tp, deque()).append(offset)

    def seeked(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._delivered.setdefault(tp, deque()).append(None)

    def forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._delivered.pop(tp, None)

    def passed_over(self, tp: TP, offset: int) -> list[int]:
        """The offsets delivered before ``offset`` (since the previous call) that never reached the agent and will
        not be delivered again: a seek goes back to the committed offset, so it redelivers any skipped before it."""
        queue = self._delivered.get(tp)
        skipped: list[int] = []
        while queue:
            head = queue.popleft()
            if head == offset:
                return skipped
            if head is None:
                skipped.clear()
            else:
                skipped.append(head)
        raise RuntimeError(f"{tp} offset {offset} reached the agent without having been delivered")


class EosTransactionManager(TransactionManager):
    """Faust's manager, minus the two ways out of a transaction."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        *,
        transactional_id: str | None = None,
    ) -> Any:
        """Faust's send, refusing a topic outside the assignor's groups instead of sending it untransacted."""
        assignor: Any = self.app.assignor
        if topic not in assignor._topic_groups:
            raise RuntimeError(f"refusing to send to {topic}: it has no transactional producer (not co-partitioned)")
        return await super().send(topic, key, value, partition, timestamp, headers, transactional_id=transactional_id)

    async def commit(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        raise RuntimeError("offsets are committed by the checkpoint (EosConsumer.force_commit), not by Faust")


class EosConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer whose commits are the job's checkpoint and which logs what it delivers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deliveries = DeliveryLog()
        deliver = self.callback
        delivered = self.deliveries.delivered

        is_changelog = self._is_changelog_tp

        async def logged(message: Any) -> None:
            if not is_changelog(message.tp):
                delivered(message.tp, message.offset)
            await deliver(message)

        self.callback = logged

    async def _seek(self, partition: TP, offset: int) -> None:
        self.deliveries.seeked([partition])
        await super()._seek(partition, offset)

    async def seek_to_committed(self) -> Any:
        self.deliveries.seeked(self.assignment())
        return await super().seek_to_committed()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.deliveries.forget(revoked)
        await super().on_partitions_revoked(revoked)

    def ack(self, message: Any) -> bool:
        """Mark the message done for ``wait_empty``; offsets are not derived from acks (see the module doc)."""
        if message.acked:
            return False
        message.acked = True
        self._unacked_messages.discard(message)
        notify(self._waiting_for_ack)
        return True

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """No gap bookkeeping: it only serves the ack-based offsets we do not use, and never shrinks without them
        (every transaction marker of the input is a gap)."""

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        hook: CommitHook | None = getattr(self.app, "commit_hook", None)
        if hook is None:
            raise RuntimeError("EosConsumer needs app.commit_hook")
        sensor_state = self.app.sensors.on_commit_initiated(self)
        try:
            offsets = await hook.commit(start_new_transaction)
        except Exception as exc:
            fatal(exc)
        if offsets:
            self._committed_offset.update(offsets)
            self.app.monitor.on_tp_commit(offsets)
        self.app.sensors.on_commit_completed(self, sensor_state)
        return bool(offsets)


class EosRecovery(Recovery):
    """Recovery whose target per active changelog partition is its last committed record (see the module doc)."""

    async def _build_highwaters(self, consumer: Any, tps: set[TP], destination: Any, title: str) -> None:
        await super()._build_highwaters(consumer, tps, destination, title)
        if title == "active" and tps:
            for tp, offset in (await last_committed_offsets(self.app.conf.broker, tps)).items():
                destination[tp] = offset  # a Counter: update() would add


async def last_committed_offsets(brokers: Any, tps: set[TP], window: int = 64) -> dict[TP, int]:
    """Per partition, the offset of the last record of a committed transaction (-1 for none), read from the tail
    with a read_committed consumer, the window doubling until a record shows up or the start is reached."""
    servers = [f"{url.host}:{url.port or 9092}" for url in brokers]
    client = AIOKafkaConsumer(
        bootstrap_servers=servers, isolation_level="read_committed", enable_auto_commit=False, **aiokafka_options()
    )
    await client.start()
    try:
        parts = [TopicPartition(tp.topic, tp.partition) for tp in tps]
        client.assign(parts)
        ends: dict[TopicPartition, int] = await client.end_offsets(parts)
        found: dict[TP, int] = {}
        for part in parts:
            end, span, last = ends[part], window, -1
            while end > 0:
                start = max(end - span, 0)
                client.seek(part, start)
                while await client.position(part) < end:
                    for record in (await client.getmany(part, timeout_ms=1000)).get(part, []):
                        last = max(last, record.offset)
                if last >= 0 or start == 0:
                    break
                span *= 2
            found[TP(part.topic, part.partition)] = last
        return found
    finally:
        await client.stop()


class EosTableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = EosRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class EosTransport(aiokafka_driver.Transport):
    Consumer = EosConsumer
    TransactionManager = EosTransactionManager


class EosApp(faust.App):
    """A Faust app on :class:`EosTransport`; ``commit_hook`` must be set before the worker starts. Its methods
    are the only way the job reaches Faust's private producer and consumer internals."""

    commit_hook: CommitHook | None = None

    def _new_transport(self) -> Any:
        return EosTransport(self.conf.broker_consumer, self)

    def transactional_producer(self, source_topic: str, partition: int) -> AIOKafkaProducer | None:
        """The transactional producer Faust started for a source partition (None when it does not own it)."""
        assignor: Any = self.assignor
        tid = f"{self.conf.id}-{assignor.group_for_topic(source_topic)}-{partition}"
        producers: dict[str, AIOKafkaProducer] = cast(Any, self.producer)._transaction_producers
        return producers.get(tid)

    def plain_producer(self) -> AIOKafkaProducer:
        """The non-transactional producer (at-least-once mode)."""
        producer: AIOKafkaProducer = cast(Any, self.producer)._producer
        return producer

    async def commit_consumer_offsets(self, offsets: Mapping[TP, int]) -> bool:
        """A plain consumer-group commit (at-least-once mode)."""
        committed: bool = await cast(Any, self.consumer)._commit(offsets)
        return committed

    @property
    def deliveries(self) -> DeliveryLog:
        return cast(EosConsumer, self.consumer).deliveries


def faust_credentials() -> faust.types.auth.CredentialsT | None:
    """The process's Kafka security (``ops.connections``) as Faust broker credentials (None: PLAINTEXT)."""
    options = aiokafka_options()
    protocol = options["security_protocol"]
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        mechanism=options["sasl_mechanism"],
        ssl_context=options.get("ssl_context"),
    )
