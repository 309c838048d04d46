"""The Faust wiring of a job: batches of raw records in, a changelogged state table, the checkpoint behind commits.

- :class:`~processors.eos.EosConsumer` hands each fetched batch of a source partition (raw Avro bytes; Faust does
  no deserialisation) to :class:`_Hooks`, holding the checkpoint gate. Per batch: the job's
  :class:`~processors.runner.Runner` processes each record not processed yet, the derived records go to the *same
  partition* of their sinks through that partition's transactional producer as one record batch per sink (a
  delivery future per batch, not per record; deferred to the next transaction while a commit is in flight), and
  the offset of the last record is recorded as processed. Bars are closed by the core on event time; nothing runs
  on ``on_window_close`` or a wall clock.
- State: a Faust ``Table`` keyed by symbol holding :meth:`snapshot_symbol` of each symbol, written to its
  changelog at each checkpoint (only symbols that changed) inside the partition's transaction, recovered by
  Faust on assignment and read back into the core on a symbol's first event.
- Commits: :mod:`processors.eos` routes Faust's periodic commit to :class:`~processors.checkpoint.Checkpointer`
  with a port per guarantee: Kafka transactions (exactly-once) or flush-then-commit (at-least-once, the
  benchmark's baseline). Any failure aborts and crashes the worker: a restart resumes from the last commit.
- Revoked partitions (every rebalance revokes all of them first) are abandoned: their open transactions aborted,
  their progress and state forgotten, so a partition this worker keeps resumes from its last commit, as a moved
  one does at its next owner. Faust itself would keep a kept partition's transaction open while reprocessing
  from the committed offsets into it.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust
import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from faust.types import TP

from processors.checkpoint import Checkpointer, CheckpointError, DeliveryErrors
from processors.core import SymbolState
from processors.eos import EXIT_CRASHED, EosApp, EosConsumer, EosTableManager, fatal, faust_credentials
from processors.jobs import JobSpec
from processors.metrics import WorkerStats
from processors.runner import Outgoing, Runner, decode_state, encode_state
from processors.topics import copartition
from schemas.registry import codec_for, registry_client

__all__ = ["WorkerConfig", "build_app", "run_worker", "send_batched", "table_json"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a worker needs; the CLI builds it from arguments and :class:`~ops.config.Settings`."""

    job: JobSpec
    bootstrap_servers: str
    registry_url: str
    input_topic: str
    output_topics: Mapping[str, str]
    """Output schema name -> topic."""
    group_id: str
    data_dir: Path
    """Where Faust keeps its per-app folder (``<group>-data``; the working directory unless told)."""
    exactly_once: bool = True
    commit_interval_s: float = 0.1
    instance_id: str | None = None
    session_timeout_s: float = 10.0
    checkpoint_timeout_s: float = 60.0
    """A checkpoint not ended after this long stops the worker (exit 70): see :class:`~processors.eos.EosConsumer`."""
    linger_ms: int = 5
    max_batch_bytes: int = 1 << 20
    """Largest record batch the producers build: a fetched batch's outputs to one sink fit in one or a few."""


def table_json(text: str) -> bytes:
    """A key or value of the state table as its changelog holds it: Faust's JSON codec, orjson when installed (it is
    our dependency), writes a ``str`` as ``orjson.dumps`` does; tests hold the two byte-identical. Faust's recovery
    must decode what we write: it logs and skips a record it cannot decode, which would silently lose that symbol's
    state. Going through Faust's topic and codec objects cost ~10 ms per checkpoint at full market."""
    return orjson.dumps(text)


Record = tuple[str, bytes | None, bytes, int | None]
"""(topic, key, value, timestamp ms or None for now) of a record to produce."""


async def send_batched(
    producer: AIOKafkaProducer, partition: int, records: Iterable[Record], errors: DeliveryErrors
) -> dict[str, int]:
    """Hand records to the producer for ``partition`` of their topics as closed record batches, one per topic
    unless full (closed: sent without lingering); returns how many went to each topic. A failed batch is recorded
    in ``errors``, which the next checkpoint raises."""
    builders: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for topic, key, value, timestamp_ms in records:
        builder = builders.get(topic)
        if builder is None:
            builder = builders[topic] = producer.create_batch()
            counts[topic] = 0
        if builder.append(key=key, value=value, timestamp=timestamp_ms) is None:
            await _submit(producer, builder, topic, partition, errors)
            builder = builders[topic] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=timestamp_ms) is None:
                raise CheckpointError(f"a record of {len(value)} bytes for {topic} exceeds the batch size")
        counts[topic] += 1
    for topic, builder in builders.items():
        await _submit(producer, builder, topic, partition, errors)
    return counts


async def _submit(producer: AIOKafkaProducer, builder: Any, topic: str, partition: int, errors: DeliveryErrors) -> None:
    builder.close()
    delivery = await producer.send_batch(builder, topic, partition=partition)
    delivery.add_done_callback(errors.on_delivery)


class _Port:
    """What the checkpoint drives, common to both guarantees: the changelog of changed symbols and the flush."""

    def __init__(self, app: EosApp, table: Any, runner: Runner, errors: DeliveryErrors, input_topic: str) -> None:
        self.app = app
        self.input_topic = input_topic
        self._table = table
        self._runner = runner
        self._errors = errors
        self._changelogs: dict[int, list[Record]] = {}

    def producer(self, partition: int) -> AIOKafkaProducer:
        raise NotImplementedError

    def take_changelogs(self, partitions: frozenset[int]) -> None:
        name = self._table.changelog_topic.get_topic_name()
        data = self._table.data
        for partition in partitions:
            records: list[Record] = []
            for symbol, state in self._runner.take_changed(partition):
                value = encode_state(state)
                records.append((name, table_json(symbol), table_json(value), None))
                data[symbol] = value
            self._changelogs[partition] = records

    async def produce_changelogs(self, partitions: frozenset[int]) -> None:
        for partition in sorted(partitions):
            await send_batched(self.producer(partition), partition, self._changelogs.pop(partition), self._errors)

    async def flush(self, partitions: frozenset[int]) -> None:
        producers = {id(p): p for p in map(self.producer, partitions)}
        await asyncio.gather(*(producer.flush() for producer in producers.values()))


class _TransactionalPort(_Port):
    """One Kafka transaction per source partition: Faust's transactional producer for that partition."""

    def producer(self, partition: int) -> AIOKafkaProducer:
        producer = self.app.transactional_producer(self.input_topic, partition)
        if producer is None:
            raise CheckpointError(f"no transactional producer for partition {partition} of {self.input_topic}")
        return producer

    async def send_offsets(self, offsets: Mapping[int, int]) -> None:
        await asyncio.gather(*(self._send_offsets(p, o) for p, o in offsets.items()))

    async def _send_offsets(self, partition: int, offset: int) -> None:
        tp = TopicPartition(self.input_topic, partition)
        await self.producer(partition).send_offsets_to_transaction({tp: offset}, self.app.conf.id)

    async def commit(self, offsets: Mapping[int, int], start_new: bool) -> None:
        await asyncio.gather(*(self._commit(p, start_new) for p in offsets))

    async def _commit(self, partition: int, start_new: bool) -> None:
        producer = self.producer(partition)
        await producer.commit_transaction()
        if start_new:
            await producer.begin_transaction()

    async def abort(self, partitions: frozenset[int]) -> None:
        for partition in partitions:
            try:
                await self.producer(partition).abort_transaction()
            except Exception as exc:  # best effort: the next owner's fencing aborts it anyway
                log.warning("abort of partition %s failed: %r", partition, exc)


class _AtLeastOncePort(_Port):
    """The baseline: the plain producer, flushed before the consumer commits."""

    def producer(self, partition: int) -> AIOKafkaProducer:
        return self.app.plain_producer()

    async def send_offsets(self, offsets: Mapping[int, int]) -> None:
        """Nothing before the flush: the consumer commit comes after it."""

    async def commit(self, offsets: Mapping[int, int], start_new: bool) -> None:
        tps = {TP(self.input_topic, p): o for p, o in offsets.items()}
        if not await self.app.commit_consumer_offsets(tps):
            raise CheckpointError(f"consumer commit of {tps} failed")

    async def abort(self, partitions: frozenset[int]) -> None:
        """Nothing to abort without transactions: a restart reprocesses (and duplicates) since the last commit."""


class _Hooks:
    """The job as :class:`~processors.eos.EosConsumer` drives it: batches in, checkpoints."""

    def __init__(
        self, checkpointer: Checkpointer, port: _Port, runner: Runner, input_topic: str, stats: WorkerStats
    ) -> None:
        self.gate = checkpointer.gate
        self._checkpointer = checkpointer
        self._port = port
        self._runner = runner
        self._input_topic = input_topic
        self._stats = stats
        self._deferred: dict[int, list[Outgoing]] = {}
        """Per partition, what was processed while a commit was in flight, to send once it is done."""

    async def process(self, tp: TP, records: Sequence[Any]) -> None:
        try:
            await self._process(tp.partition, records)
        except Exception as exc:  # a record we cannot process: stop, never skip it
            fatal(exc)

    async def _process(self, partition: int, records: Sequence[Any]) -> None:
        checkpointer = self._checkpointer
        if checkpointer.failed is not None:
            raise checkpointer.failed
        progress = checkpointer.progress
        start = 0
        while start < len(records) and progress.seen(partition, records[start].offset):
            start += 1  # redelivered after a seek back to the committed offset
        if start == len(records):
            return
        outgoing = self._runner.process(partition, [record.value for record in records[start:]])
        progress.done(partition, records[-1].offset)
        self._stats.events_in += len(records) - start
        if not checkpointer.committing:
            await self._send(partition, outgoing)
            return
        deferred = self._deferred.get(partition)
        if deferred is None:  # one send per partition after the commit: each send waits for the one before
            deferred = self._deferred[partition] = []
            checkpointer.defer(functools.partial(self._send_deferred, partition))
        deferred += outgoing

    async def _send_deferred(self, partition: int) -> None:
        await self._send(partition, self._deferred.pop(partition))

    async def _send(self, partition: int, outgoing: list[Outgoing]) -> None:
        counts = await send_batched(self._port.producer(partition), partition, outgoing, self._checkpointer.errors)
        events_out = self._stats.events_out
        for topic, count in counts.items():
            events_out[topic] = events_out.get(topic, 0) + count

    async def commit(self, start_new: bool) -> dict[TP, int]:
        started = time.perf_counter()
        offsets = await self._checkpointer.checkpoint(start_new)
        if offsets:
            self._stats.commit_seconds.observe(time.perf_counter() - started)
        return {TP(self._input_topic, p): o for p, o in offsets.items()}


def build_app(config: WorkerConfig, stats: WorkerStats) -> EosApp:
    """The Faust app of one job, its sinks created co-partitioned and its schemas registered (warm codecs)."""
    spec = config.job
    outputs = {kind: config.output_topics[output.schema.name] for kind, output in spec.outputs.items()}
    partitions, replicas = copartition(config.bootstrap_servers, config.input_topic, sorted(set(outputs.values())))
    registry = registry_client(config.registry_url)
    input_codec = codec_for(registry, spec.input, config.input_topic)
    output_codecs = {
        kind: (topic, codec_for(registry, spec.outputs[kind].schema, topic)) for kind, topic in outputs.items()
    }

    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = EosApp(
        config.group_id,
        datadir=str(config.data_dir / "{conf.name}-data"),
        broker=[f"kafka://{server}" for server in config.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(),
        processing_guarantee="exactly_once" if config.exactly_once else "at_least_once",
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=partitions,
        topic_replication_factor=replicas,  # the changelog is as durable as the input
        topic_disable_leader=True,
        table_standby_replicas=0,
        broker_commit_interval=config.commit_interval_s,
        broker_session_timeout=config.session_timeout_s,
        broker_heartbeat_interval=max(config.session_timeout_s / 10, 0.5),
        broker_rebalance_timeout=config.session_timeout_s * 2,
        consumer_group_instance_id=config.instance_id,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=config.linger_ms,
        producer_max_batch_size=config.max_batch_bytes,
        TableManager=EosTableManager,
    )
    app.checkpoint_timeout_s = config.checkpoint_timeout_s
    table = app.Table(f"{spec.name}-state", partitions=partitions, key_type=str, value_type=str, default=None)

    def lookup(symbol: str) -> SymbolState | None:
        saved: str | None = table.data.get(symbol)
        return None if saved is None else decode_state(saved)

    runner = Runner(spec, input_codec, output_codecs, lookup)
    errors = DeliveryErrors()
    port_type = _TransactionalPort if config.exactly_once else _AtLeastOncePort
    port = port_type(app, table, runner, errors, config.input_topic)
    checkpointer = Checkpointer(port, errors)
    app.hooks = _Hooks(checkpointer, port, runner, config.input_topic, stats)
    app.topics.add(app.topic(config.input_topic, key_serializer="raw", value_serializer="raw"))
    progress = checkpointer.progress

    async def abandon(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: set[TP] = args[0]
        mine = frozenset(tp.partition for tp in revoked if tp.topic == config.input_topic)
        await checkpointer.abandon(mine)
        runner.forget(mine)

    app.on_partitions_revoked.connect(abandon)

    async def measure() -> None:
        consumer = cast(EosConsumer, app.consumer)
        lag: dict[int, int] = {}
        for tp in consumer.assignment():
            if tp.topic != config.input_topic:
                continue
            position = progress.position(tp.partition)
            if position is None:  # nothing processed from it yet in this assignment
                position = consumer.reading_starts.get(tp)
            highwater = consumer.highwater(tp)
            if position is not None and highwater is not None:
                lag[tp.partition] = max(highwater - position, 0)
        stats.lag = lag
        stats.late_events = runner.late_events

    app.timer(1.0)(measure)
    return app


GC_THRESHOLD = 10_000
"""Allocations between young-generation collections (Python's default is 700)."""


def run_worker(app: EosApp, loglevel: str = "WARNING") -> int:
    """Run the worker until it stops; a failed checkpoint or event exits the process with
    :data:`~processors.eos.EXIT_CRASHED` instead (see :func:`~processors.eos.fatal`).

    A batch allocates hundreds of thousands of short-lived objects: with Python's default collector settings
    about a sixth of the worker's time went to collections, full ones (of every object the imports made, too)
    pausing it for ~80 ms each. The objects alive now are frozen out of collections, and young collections run
    less often, so that fewer batch objects live long enough to be promoted."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    return EXIT_CRASHED if app.crash_reason is not None else code
