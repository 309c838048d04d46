"""The Kafka side of the kline job: one transaction per page holds its candles and the series' new checkpoint.

Steps of a page, in order (every early exit aborts): begin -> produce the candles (Avro, key = symbol, timestamp
= open time) -> produce the checkpoint (key ``SYMBOL|granularity``, value the series' :class:`Coverage`) ->
commit, which flushes and fails if any record was not delivered. So a checkpoint is visible to ``read_committed``
readers exactly when its candles are. The transactional id is stable per job: ``init_transactions`` on restart
fences a predecessor that is still alive and aborts whatever transaction a killed one left open, before the
checkpoints are read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from ops.admin import Admin, ClusterError
from ops.connections import kafka_config
from ops.topics import TopicSpec, create_missing_topics, default_specs, replication_factor
from producers.klines.errors import KlineJobError
from producers.klines.plan import Coverage, SeriesKey
from producers.metrics import ProducerMetrics
from schemas.codec import AvroCodec
from schemas.records import Kline

__all__ = ["TransactionalKlineWriter", "ensure_kline_topics"]

log = logging.getLogger(__name__)
_LIBRDKAFKA_LOG = logging.getLogger("producers.klines.librdkafka")
_TIMEOUT_S = 60.0
_PAGE_ATTEMPTS = 5


def ensure_kline_topics(bootstrap_servers: str, topic: str, checkpoint_topic: str) -> None:
    """Create the kline topic (the pipeline's spec for it) if missing, then the compacted checkpoint topic if missing,
    replicated as the kline topic is (whose records it vouches for)."""
    cluster = Admin(bootstrap_servers)
    kline_spec = [spec for spec in default_specs(topics={"kline": topic}) if spec.name == topic]
    try:
        changes = create_missing_topics(cluster, kline_spec)
        replicas = replication_factor(cluster.metadata(), topic)
        # Compacted, with hourly segments so compaction (which skips the active segment) keeps start-up reads short.
        config = {"cleanup.policy": "compact", "segment.ms": "3600000"}
        changes += create_missing_topics(cluster, [TopicSpec(checkpoint_topic, 1, replicas, config)])
    except ClusterError as exc:
        raise KlineJobError(str(exc)) from exc
    except KafkaException as exc:
        raise KlineJobError(f"topics {topic}, {checkpoint_topic} at {bootstrap_servers}: {exc.args[0].str()}") from exc
    for change in changes:
        log.info("topic %s", change.line())


class TransactionalKlineWriter:
    """Publishes pages of candles with their checkpoints, exactly once; reads the checkpoints back on start."""

    def __init__(
        self,
        bootstrap_servers: str,
        transactional_id: str,
        topic: str,
        checkpoint_topic: str,
        codec: AvroCodec[Kline],
        metrics: ProducerMetrics,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._checkpoint_topic = checkpoint_topic
        self._codec = codec
        self._produced = metrics.records_produced.labels(topic)
        self._producer = Producer(
            kafka_config(
                bootstrap_servers,
                {
                    "transactional.id": transactional_id,
                    "transaction.timeout.ms": int(_TIMEOUT_S * 1000),
                    "linger.ms": 5,
                    "compression.type": "lz4",
                    "logger": _LIBRDKAFKA_LOG,
                },
            )
        )

    def start(self) -> dict[SeriesKey, Coverage]:
        """Fence predecessors, then read every series' committed coverage."""
        try:
            self._producer.init_transactions(_TIMEOUT_S)
        except KafkaException as exc:
            raise KlineJobError(f"cannot start a Kafka transaction at {self._bootstrap}: {exc.args[0].str()}") from exc
        return self._read_checkpoints()

    def commit_page(self, key: SeriesKey, coverage: Coverage, candles: Sequence[Kline]) -> None:
        """Publish ``candles`` and ``coverage`` atomically; an abortable failure is retried with the same page."""
        values = [(candle, self._codec.encode(candle)) for candle in candles]
        for attempt in range(1, _PAGE_ATTEMPTS + 1):
            try:
                self._producer.begin_transaction()
                for candle, value in values:
                    self._producer.produce(self._topic, value, candle.symbol.encode(), timestamp=candle.open_time_ms)
                self._producer.produce(self._checkpoint_topic, coverage.encode(), key.text().encode())
                self._commit()
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.txn_requires_abort() or attempt == _PAGE_ATTEMPTS:
                    hint = " (another job with this --job-name took over?)" if error.fatal() else ""
                    raise KlineJobError(f"Kafka transaction failed for {key.text()}: {error.str()}{hint}") from exc
                log.warning("transaction for %s aborted (%s); retrying the page", key.text(), error.str())
                self._producer.abort_transaction(_TIMEOUT_S)
            else:
                self._produced.inc(len(values))
                return

    def _commit(self) -> None:
        for attempt in range(1, _PAGE_ATTEMPTS + 1):
            try:
                self._producer.commit_transaction(_TIMEOUT_S)
                return
            except KafkaException as exc:
                if not exc.args[0].retriable() or attempt == _PAGE_ATTEMPTS:
                    raise

    def _read_checkpoints(self) -> dict[SeriesKey, Coverage]:
        consumer = Consumer(
            kafka_config(
                self._bootstrap,
                {
                    "group.id": f"{self._checkpoint_topic}-reader",
                    "isolation.level": "read_committed",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "logger": _LIBRDKAFKA_LOG,
                },
            )
        )
        try:
            partitions = consumer.list_topics(self._checkpoint_topic, timeout=_TIMEOUT_S).topics[self._checkpoint_topic]
            consumer.assign(
                [TopicPartition(self._checkpoint_topic, p, OFFSET_BEGINNING) for p in partitions.partitions]
            )
            latest = self._read_to_end(consumer, set(partitions.partitions))
        finally:
            consumer.close()
        coverage = {}
        for raw_key, value in latest.items():
            key = SeriesKey.parse(raw_key.decode())
            coverage[key] = Coverage.decode(key.granularity_min, value)
        return coverage

    def _read_to_end(self, consumer: Consumer, partitions: set[int]) -> dict[bytes, bytes]:
        """The last value of each key (the topic is compacted; a tombstone forgets the key)."""
        latest: dict[bytes, bytes] = {}
        deadline = time.monotonic() + _TIMEOUT_S
        while partitions:
            if time.monotonic() > deadline:
                raise KlineJobError(f"{self._checkpoint_topic}: not read to its end in {_TIMEOUT_S:.0f} s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                partitions.discard(msg.partition())
            elif error is not None:
                raise KlineJobError(f"{self._checkpoint_topic}: {error.str()}")
            elif (key := msg.key()) is None:
                raise KlineJobError(f"{self._checkpoint_topic}: a record without a key; is it another job's topic?")
            elif (value := msg.value()) is None:
                latest.pop(key, None)
            else:
                latest[key] = value
        return latest
