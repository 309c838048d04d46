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
- Faust drops records it fetched as a rebalance begins, or of a partition it paused meanwhile (it hands aiokafka
  its live set of active partitions, which is empty for a moment during rebalances and table recovery, and
  aiokafka then returns every partition's records), and counts on its seek to the committed offsets when streams
  resume. That seek skips a partition without a committed offset (or at offset 0): its dropped records are lost
  (observed: events missing mid-stream right after a worker start), and so are those processed in a transaction
  aborted when the partition was revoked (observed: a partition left unread at its end after a rebalance). Its
  stream also acks unprocessed the events it drops, and its per-message path (consumer callback, conductor,
  channel queue, stream, agent) costs ~100 us an event, ten times the job's own work. :class:`EosConsumer` hands
  each fetched batch of a source partition to the job (:class:`WorkerHooks`) in slices of :data:`BATCH_SLICE`
  records, yielding between them, keeps Faust's per-message path for changelogs only (table recovery), seeks
  every source partition without a committed offset to its beginning when streams resume, makes sure the first
  batch of each source partition in an assignment starts at its committed offset (seeking there otherwise), and
  reads again any part of a batch it did not process.
- ``begin_transaction``/``commit_transaction`` log and swallow every error except a fence.
- A rebalance revokes every partition, then assigns; a partition the worker keeps keeps its open transaction,
  while its stream restarts from the committed offsets and sends the same outputs into it again. The job aborts
  the transactions of revoked partitions (:meth:`~processors.checkpoint.Checkpointer.abandon`).
- Table recovery in exactly-once mode waits for the changelog position to reach the last stable offset; the
  last offset is always a transaction marker, never delivered, so recovery only ends after two 5-second queue
  timeouts (``detect_aborted_tx``): 10 s of every restart. :class:`EosRecovery` targets the offset of the last
  committed *record* instead, found by reading the partition's tail read_committed, so recovery ends exactly
  when that record has been applied.
- Windowed tables close windows on wall-clock time, once per table, and drop late events (#323); we use no
  windowed table at all: bars are closed by the core on event time.

The fix, isolated here: :class:`EosConsumer` feeds the job batches and replaces Faust's commit by
:class:`~processors.checkpoint.Checkpointer` (offsets from what the job processed under the gate; changelog,
flush, offsets, commit in that order; abort and crash on any error). :class:`EosTransactionManager` refuses any
send that would bypass a transaction. Sinks are written by the job through the source partition's transactional
producer, to the same partition number (sinks are created co-partitioned with the source).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, Protocol, cast

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import IllegalStateError
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import TransactionManager
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from mode import Service
from mode.utils.futures import notify

from ops.connections import aiokafka_options

__all__ = [
    "EXIT_CRASHED",
    "EosApp",
    "EosConsumer",
    "EosRecovery",
    "EosTableManager",
    "EosTransactionManager",
    "EosTransport",
    "WorkerHooks",
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


class WorkerHooks(Protocol):
    """The job, as the consumer drives it."""

    gate: asyncio.Lock
    """Held while a batch is processed and while a checkpoint takes its offsets: no batch is half done at a commit."""

    async def process(self, tp: TP, records: Sequence[Any]) -> None:
        """Process one fetched batch of a source partition (aiokafka records, in offset order), holding :attr:`gate`."""
        ...

    async def commit(self, start_new: bool) -> dict[TP, int]:
        """Run a checkpoint; the committed offsets (empty when there was nothing to commit)."""
        ...


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


FETCH_MAX_WAIT_MS = 100
"""How long the broker may hold a fetch while the partitions in it have no new record (Faust sets 1.5 s). A
partition with records still buffered is left out of the next fetch and waits for it to return: with 1.5 s, a
partition catching up stalls behind idle ones for that long."""
BATCH_SLICE = 500
"""Records of a fetched batch processed without yielding: a fetch can hold thousands (~70 us each), and the
checkpoint in flight (its changelog sends, flush, commit) only goes on when processing yields. A/B, alternating
runs: imbalance exactly-once 13.8-14.3k events/s at 200, 15.0-17.2k at 500, 14.0-14.9k at 1,000 (a fetch of
Depth50 holds ~800 records a partition); ticker-bars 160-164k at 200, 176k at 500; full-market p99 the same
within noise (322-416 ms at 200, 324-372 ms at 500)."""


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer: AIOKafkaConsumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts its fetcher
        return consumer

    async def start_offset(self, tp: TopicPartition) -> int:
        """Where reading ``tp`` starts: its committed offset, its beginning when nothing was committed (the worker's
        ``auto_offset_reset``)."""
        committed: int | None = await self.call_thread(self._ensure_consumer().committed, tp)
        return await self.start_given(tp, committed)

    async def start_given(self, tp: TopicPartition, committed: int | None) -> int:
        """Where reading ``tp`` starts when its committed offset is ``committed``."""
        if committed is not None:
            return committed
        beginnings: dict[TopicPartition, int] = await self.call_thread(self._ensure_consumer().beginning_offsets, [tp])
        return beginnings[tp]

    async def seek_assigned(self, tp: TopicPartition, offset: int) -> bool:
        """Seek ``tp`` to ``offset`` in the consumer's own thread; False when ``tp`` is no longer assigned (its next
        owner reads it from the committed offset)."""
        return bool(await self.call_thread(self._seek_assigned, tp, offset))

    async def _seek_assigned(self, tp: TopicPartition, offset: int) -> bool:
        try:
            self._ensure_consumer().seek(tp, offset)
        except IllegalStateError:
            return False
        return True


class EosConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer that hands source records to the job in fetched batches and whose commits are the
    job's checkpoint."""

    _thread: _ConsumerThread

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._positioned: set[TP] = set()
        """Source partitions whose first batch in this assignment started where their reading starts."""
        self.reading_starts: dict[TP, int] = {}
        """Per assigned source partition, where reading it starts in this assignment (its committed offset, its
        beginning when none): the lag of a partition nothing was processed from yet counts from there."""

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._positioned.difference_update(revoked)
        for tp in revoked:
            self.reading_starts.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def ack(self, message: Any) -> bool:
        """Mark the (changelog) message done for ``wait_empty``; offsets are not derived from acks (see the module
        doc)."""
        if message.acked:
            return False
        message.acked = True
        self._unacked_messages.discard(message)
        notify(self._waiting_for_ack)
        return True

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, batch by batch: a source partition's records go to the job under its gate
        (:meth:`_consume`), a changelog's go Faust's per-message way. A changelog's records fetched as a rebalance
        began, or while it was paused (once recovered: a late record of it would overwrite newer state in the table),
        are dropped, as Faust drops them."""
        hooks = _hooks(self.app)
        stopped = cast(Any, self)._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (stopped() or fetcher_stopped()):
                records, active = await self._wait_next_records(timeout=1.0)
                if not records or self.should_stop:
                    continue
                generation = self.app.consumer_generation_id
                for tp, batch in records.items():
                    if not self._is_changelog_tp(tp):
                        await self._consume(hooks, tp, batch, generation, active)
                    elif self._current(generation) and self._active(tp, active):
                        await self._deliver(tp, batch, generation, active)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise

    async def _consume(
        self, hooks: WorkerHooks, tp: TP, batch: Sequence[Any], generation: int, active: set[TP] | None
    ) -> None:
        """Process a fetched batch of source partition ``tp`` in slices. Whatever part of it is not processed (a
        rebalance began, Faust paused the partition, or the batch does not start where reading starts) is read again:
        the fetch moved the consumer's position past it, and no later batch may be coming to reveal the gap (a
        partition at its end stalled for good, observed after rebalances)."""
        again: int | None = batch[0].offset
        if self._current(generation) and self._active(tp, active):
            again = await self._reread_from(tp, batch[0].offset, generation)
        if again is None:
            for start in range(0, len(batch), BATCH_SLICE):
                piece = batch[start : start + BATCH_SLICE]
                # shielded: a cancelled fetcher (a stop) must not leave a slice half processed
                if not await asyncio.shield(self._process(hooks, tp, piece, generation)):
                    again = piece[0].offset
                    break
                await asyncio.sleep(0)  # a checkpoint in flight goes on between slices
        if again is not None:
            await self._thread.seek_assigned(TopicPartition(tp.topic, tp.partition), again)

    async def _reread_from(self, tp: TP, offset: int, generation: int) -> int | None:
        """None when a batch of source partition ``tp`` starting at ``offset`` may be processed, else where to read
        ``tp`` again. The first batch in an assignment must start where reading the partition starts; otherwise it
        was fetched from a stale position (before the seek to the committed offsets) and ``tp`` is read again from
        its start. After that, every batch until the partition is revoked follows the previous one."""
        if tp in self._positioned:
            return None
        start = self.reading_starts.get(tp)  # recorded as streams resumed; nothing commits tp before this batch
        if start is None:
            start = await self._thread.start_offset(TopicPartition(tp.topic, tp.partition))
        if not self._current(generation):
            return offset
        self._positioned.add(tp)
        if offset == start:
            return None
        log.info("%s: first batch at offset %s, reading starts at %s: seeking there", tp, offset, start)
        return start

    async def _process(self, hooks: WorkerHooks, tp: TP, records: Sequence[Any], generation: int) -> bool:
        """Process ``records`` under the gate unless a rebalance began; whether they were processed."""
        async with hooks.gate:
            if not self._current(generation):
                return False
            await hooks.process(tp, records)
            return True

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Faust's seek of the assignment to the committed offsets, as streams resume after a rebalance, completed:
        aiokafka leaves a partition without a committed offset (or at offset 0) where it is, which may be past
        records fetched and then dropped, or processed in a transaction that was aborted when the partition was
        revoked. Such a source partition is sought to where its reading starts. Every source partition's start is
        kept in :attr:`reading_starts`."""
        committed: Mapping[TP, int] = await super().seek_to_committed()
        for tp, offset in committed.items():
            if self._is_changelog_tp(tp):
                continue
            part = TopicPartition(tp.topic, tp.partition)
            start = self.reading_starts[TP(tp.topic, tp.partition)] = await self._thread.start_given(part, offset)
            if not offset:
                await self._thread.seek_assigned(part, start)
        return committed

    def _current(self, generation: int) -> bool:
        """False once a rebalance began after the fetch."""
        return self.flow_active and self.app.consumer_generation_id == generation

    def _active(self, tp: TP, active: set[TP] | None) -> bool:
        return active is None or tp in active or tp in self._buffered_partitions

    async def _deliver(self, tp: TP, records: Sequence[Any], generation: int, active: set[TP] | None) -> None:
        """Faust's per-message delivery (table recovery reads changelogs through it)."""
        read_offsets = self._read_offset
        for record in records:
            if not (self._current(generation) and self._active(tp, active)):
                return
            offset = record.offset
            read = read_offsets[tp]
            if read is None or offset >= read:
                await self.wait_first(self.callback(self._to_message(tp, record)), self.suspend_flow.wait())
                read_offsets[tp] = offset

    @Service.task
    async def _commit_handler(self) -> None:
        """Faust's commit timer sleeps the whole interval after each commit ends, so checkpoints started interval +
        checkpoint apart (~180 ms at full market, where a checkpoint takes ~75 ms). Here they start
        ``commit_interval`` apart, the next one right away when one took longer: full-market p99 exchange time to
        read_committed 367-381 ms -> 302-339 ms."""
        interval = self.commit_interval
        await self.sleep(interval)
        while not self.should_stop:
            started = time.monotonic()
            await self.commit()
            await self.sleep(max(interval - (time.monotonic() - started), 0.0))

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Every commit (the timer's, Faust's before a rebalance or a stop) is the job's checkpoint. A failed one, or
        one not ended after the app's ``checkpoint_timeout_s``, stops the worker (see :func:`fatal`): a client can
        retry some errors forever without a word, and a worker stuck in a commit would otherwise sit silent."""
        hooks = _hooks(self.app)
        timeout = cast(EosApp, self.app).checkpoint_timeout_s
        sensor_state = self.app.sensors.on_commit_initiated(self)
        checkpoint = asyncio.ensure_future(hooks.commit(start_new_transaction))
        if not (await asyncio.wait({checkpoint}, timeout=timeout))[0]:
            fatal(TimeoutError(f"a checkpoint did not end in {timeout:g} s"))
        try:
            offsets = checkpoint.result()
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
    """A Faust app on :class:`EosTransport`; ``hooks`` must be set before the worker starts. Its methods
    are the only way the job reaches Faust's private producer and consumer internals."""

    hooks: WorkerHooks | None = None
    checkpoint_timeout_s: float = 60.0
    """Longest a checkpoint may take before the worker stops: by default the producers' transaction timeout
    (aiokafka's 60 s), past which the coordinator aborts the transaction anyway."""

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


def _hooks(app: Any) -> WorkerHooks:
    hooks: WorkerHooks | None = getattr(app, "hooks", None)
    if hooks is None:
        raise RuntimeError("EosConsumer needs app.hooks")
    return hooks


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
