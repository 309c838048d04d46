"""The Faust wiring of a job: one generic agent, a changelogged state table, and the checkpoint behind commits.

- The agent reads raw Avro bytes (Faust does no deserialisation), and per event, holding the checkpoint gate:
  runs the job's :class:`~processors.runner.Runner`, sends each derived record to the *same partition* of its
  sink through that partition's transactional producer, records the offset as processed, acks. Bars are closed
  by the core on event time; nothing runs on ``on_window_close`` or a wall clock.
- State: a Faust ``Table`` keyed by symbol holding :meth:`snapshot_symbol` of each symbol, written to its
  changelog at each checkpoint (only symbols that changed) inside the partition's transaction, recovered by
  Faust on assignment and read back into the core on a symbol's first event.
- Commits: :mod:`processors.eos` routes Faust's periodic commit to :class:`~processors.checkpoint.Checkpointer`
  with a port per guarantee: Kafka transactions (exactly-once) or flush-then-commit (at-least-once, the
  benchmark's baseline). Any failure aborts and crashes the worker: a restart resumes from the last commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import AIOKafkaProducer, TopicPartition
from faust.types import TP

from processors.checkpoint import Checkpointer, CheckpointError, DeliveryErrors
from processors.core import SymbolState
from processors.eos import EXIT_CRASHED, EosApp, EosTableManager, fatal, faust_credentials
from processors.jobs import JobSpec
from processors.metrics import WorkerStats
from processors.runner import Runner, decode_state, encode_state
from processors.topics import copartition
from schemas.registry import codec_for, registry_client

__all__ = ["WorkerConfig", "build_app", "run_worker"]

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
    exactly_once: bool = True
    commit_interval_s: float = 0.1
    instance_id: str | None = None
    session_timeout_s: float = 10.0
    linger_ms: int = 5


class _Port:
    """What the checkpoint drives, common to both guarantees: the changelog of changed symbols and the flush."""

    def __init__(self, app: EosApp, table: Any, runner: Runner, errors: DeliveryErrors, input_topic: str) -> None:
        self.app = app
        self.input_topic = input_topic
        self._table = table
        self._runner = runner
        self._errors = errors

    def producer(self, partition: int) -> AIOKafkaProducer:
        raise NotImplementedError

    async def produce_changelogs(self, partitions: frozenset[int]) -> None:
        table = self._table
        changelog = table.changelog_topic
        name = changelog.get_topic_name()
        for partition in sorted(partitions):
            producer = self.producer(partition)
            for symbol, state in self._runner.take_changed(partition):
                # Faust's own serialisation, so that its recovery decodes them: it logs and skips a record it
                # cannot decode, which would silently lose that symbol's state.
                value = encode_state(state)
                key_bytes, _ = changelog.prepare_key(symbol, table.key_serializer)
                value_bytes, _ = changelog.prepare_value(value, table.value_serializer)
                delivery = await producer.send(name, value_bytes, key=key_bytes, partition=partition)
                delivery.add_done_callback(self._errors.on_delivery)
                table.data[symbol] = value

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

    async def commit(self, offsets: Mapping[int, int], start_new: bool) -> None:
        await asyncio.gather(*(self._commit(p, o, start_new) for p, o in offsets.items()))

    async def _commit(self, partition: int, offset: int, start_new: bool) -> None:
        producer = self.producer(partition)
        tp = TopicPartition(self.input_topic, partition)
        await producer.send_offsets_to_transaction({tp: offset}, self.app.conf.id)
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

    async def commit(self, offsets: Mapping[int, int], start_new: bool) -> None:
        tps = {TP(self.input_topic, p): o for p, o in offsets.items()}
        if not await self.app.commit_consumer_offsets(tps):
            raise CheckpointError(f"consumer commit of {tps} failed")

    async def abort(self, partitions: frozenset[int]) -> None:
        """Nothing to abort without transactions: a restart reprocesses (and duplicates) since the last commit."""


class _CommitHook:
    def __init__(self, checkpointer: Checkpointer, input_topic: str, stats: WorkerStats) -> None:
        self._checkpointer = checkpointer
        self._input_topic = input_topic
        self._stats = stats

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
    partitions = copartition(config.bootstrap_servers, config.input_topic, sorted(set(outputs.values())))
    registry = registry_client(config.registry_url)
    input_codec = codec_for(registry, spec.input, config.input_topic)
    output_codecs = {
        kind: (topic, codec_for(registry, spec.outputs[kind].schema, topic)) for kind, topic in outputs.items()
    }

    app = EosApp(
        config.group_id,
        broker=[f"kafka://{server}" for server in config.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(),
        processing_guarantee="exactly_once" if config.exactly_once else "at_least_once",
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=partitions,
        topic_disable_leader=True,
        table_standby_replicas=0,
        broker_commit_interval=config.commit_interval_s,
        broker_session_timeout=config.session_timeout_s,
        broker_heartbeat_interval=max(config.session_timeout_s / 10, 0.5),
        broker_rebalance_timeout=config.session_timeout_s * 2,
        consumer_group_instance_id=config.instance_id,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=config.linger_ms,
        stream_wait_empty=True,
        TableManager=EosTableManager,
    )
    table = app.Table(f"{spec.name}-state", partitions=partitions, key_type=str, value_type=str, default=None)

    def lookup(symbol: str) -> SymbolState | None:
        saved: str | None = table.data.get(symbol)
        return None if saved is None else decode_state(saved)

    runner = Runner(spec, input_codec, output_codecs, lookup)
    errors = DeliveryErrors()
    port_type = _TransactionalPort if config.exactly_once else _AtLeastOncePort
    port = port_type(app, table, runner, errors, config.input_topic)
    checkpointer = Checkpointer(port, errors)
    app.commit_hook = _CommitHook(checkpointer, config.input_topic, stats)
    progress = checkpointer.progress
    source = app.topic(config.input_topic, key_serializer="raw", value_serializer="raw")

    gate = checkpointer.gate
    on_delivery = errors.on_delivery
    events_out = stats.events_out

    async def handle(events: Any, event: Any) -> None:
        message = event.message
        partition: int = message.partition
        async with gate:
            if checkpointer.failed is not None:
                raise checkpointer.failed
            lost = [
                o for o in app.deliveries.passed_over(message.tp, message.offset) if not progress.seen(partition, o)
            ]
            if lost:
                raise CheckpointError(f"{message.tp}: offsets {lost} were delivered but never reached the agent")
            if not progress.seen(partition, message.offset):
                producer = port.producer(partition)
                for out in runner.process(partition, message.value):
                    delivery = await producer.send(
                        out.topic, out.value, key=out.key, partition=partition, timestamp_ms=out.timestamp_ms
                    )
                    delivery.add_done_callback(on_delivery)
                    events_out[out.topic] = events_out.get(out.topic, 0) + 1
                progress.done(partition, message.offset)
                stats.events_in += 1
            await events.ack(event)

    async def process(stream: Any) -> None:
        events = stream.noack()
        try:
            async for event in events.events():
                await handle(events, event)
        except Exception as exc:  # an event we cannot process: stop, never skip it
            fatal(exc)

    app.agent(source, name=f"{spec.name}-agent")(process)

    async def forget(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: set[TP] = args[0]
        mine = frozenset(tp.partition for tp in revoked if tp.topic == config.input_topic)
        progress.forget(mine)
        runner.forget(mine)

    app.on_partitions_revoked.connect(forget)

    async def measure() -> None:
        consumer = app.consumer
        lag: dict[int, int] = {}
        for tp in consumer.assignment():
            position = progress.position(tp.partition)
            if tp.topic == config.input_topic and position is not None:
                lag[tp.partition] = max(consumer.highwater(tp) - position, 0)
        stats.lag = lag
        stats.late_events = runner.late_events

    app.timer(1.0)(measure)
    return app


def run_worker(app: EosApp, loglevel: str = "WARNING") -> int:
    """Run the worker until it stops; a failed checkpoint or event exits the process with
    :data:`~processors.eos.EXIT_CRASHED` instead (see :func:`~processors.eos.fatal`)."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    return EXIT_CRASHED if app.crash_reason is not None else code
