"""The fake exchange's kline ground truth as records, an in-memory source and sink, and a Kafka reader."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, DeserializingConsumer, KafkaError, TopicPartition
from confluent_kafka.error import ConsumeError
from confluent_kafka.schema_registry.avro import AvroDeserializer

from ops.fake_exchange import MarketModel
from ops.fake_exchange.frames import kline_row, render
from producers.klines.errors import KlineJobError
from producers.klines.plan import Coverage, SeriesKey
from producers.kucoin.contracts import Contract
from producers.kucoin.klines import MAX_ROWS_PER_PAGE, KlineRequest, align_up, parse_kline_rows
from producers.kucoin.lossless import loads
from schemas.codec import from_datum
from schemas.records import Kline
from schemas.registry import registry_client
from tests.support.kafka import unique_name

MINUTE_MS = 60_000


def truth(model: MarketModel, symbol: str, granularity: int, start_ms: int, end_ms: int, now_ms: int) -> list[Kline]:
    """Every candle starting in ``[start_ms, end_ms)``, one interval at a time (no paging), as the exchange
    spells it; ``receive_ts_ns`` 0."""
    step = granularity * MINUTE_MS
    contract = model.by_symbol[symbol]
    series = model.symbol(symbol)
    rows = [
        kline_row(contract, agg)
        for start in range(align_up(start_ms, granularity), end_ms, step)
        if (agg := series.kline(start, start + step, now_ms)) is not None
    ]
    return list(parse_kline_rows(loads(render(rows)), symbol, granularity, 0))


def blank(records: Sequence[Kline]) -> list[Kline]:
    """Records with the producer-clock field zeroed, for exact comparison with :func:`truth`."""
    return [dataclasses.replace(record, receive_ts_ns=0) for record in records]


class ModelSource:
    """The REST calls answered straight from the fake's model (the real paging rules), with a settable clock."""

    def __init__(self, model: MarketModel, now_ms: int) -> None:
        self.model = model
        self.now_ms = now_ms
        self.requests: list[KlineRequest] = []

    async def contracts(self) -> tuple[Contract, ...]:
        return tuple(Contract(c.symbol, "Open", "0.1", "1", "0.001", False, "FFWCSX") for c in self.model.contracts)

    async def server_time_ms(self) -> int:
        return self.now_ms

    async def klines(self, request: KlineRequest) -> tuple[tuple[Kline, ...], int]:
        self.requests.append(request)
        contract = self.model.by_symbol[request.symbol]
        aggs = self.model.symbol(request.symbol).klines(
            request.granularity_min, request.from_ms, request.to_ms, self.now_ms, MAX_ROWS_PER_PAGE
        )
        rows = loads(render([kline_row(contract, agg) for agg in aggs]))
        return parse_kline_rows(rows, request.symbol, request.granularity_min, 1), 1


class MemorySink:
    """A transactional sink in memory: a page and its coverage land together or not at all.

    After ``fail_after`` commits, every further page fails as a crashed process would (nothing of it applied);
    ``after_commit`` is called with the number of commits so far.
    """

    def __init__(self, fail_after: int | None = None) -> None:
        self.records: list[Kline] = []
        self.coverage: dict[SeriesKey, Coverage] = {}
        self.commits = 0
        self.fail_after = fail_after
        self.after_commit: Callable[[int], None] | None = None

    def start(self) -> dict[SeriesKey, Coverage]:
        return dict(self.coverage)

    def commit_page(self, key: SeriesKey, coverage: Coverage, candles: Sequence[Kline]) -> None:
        if self.fail_after is not None and self.commits >= self.fail_after:
            raise KlineJobError("simulated crash")
        self.records.extend(candles)
        self.coverage[key] = coverage
        self.commits += 1
        if self.after_commit is not None:
            self.after_commit(self.commits)

    def series(self, symbol: str, granularity: int) -> list[Kline]:
        return [k for k in self.records if k.symbol == symbol and k.granularity_min == granularity]


def _consume_to_end(consumer: Any, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every message from the start to the (read_committed) end of every partition, in partition order."""
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    pending, out = set(partitions), []
    while pending:
        try:
            msg = consumer.poll(timeout_s)
        except ConsumeError as exc:  # a DeserializingConsumer raises what a Consumer returns
            if exc.code != KafkaError._PARTITION_EOF:
                raise
            msg = exc.kafka_message
        if msg is None:
            raise TimeoutError(f"{topic}: partitions {sorted(pending)} not read to their end")
        error = msg.error()
        if error is not None and error.code() == KafkaError._PARTITION_EOF:
            pending.discard(msg.partition())
        elif error is not None:
            raise RuntimeError(error)
        else:
            out.append(msg)
    return out


def kafka_klines(bootstrap: str, registry_url: str, topic: str) -> dict[str, list[Kline]]:
    """Every committed record of ``topic``, decoded by a plain ``DeserializingConsumer``, per key in order."""
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("kline-truth"),
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "value.deserializer": AvroDeserializer(registry_client(registry_url)),
        }
    )
    try:
        out: dict[str, list[Kline]] = {}
        for msg in _consume_to_end(consumer, topic):
            key = bytes(msg.key()).decode()
            record = from_datum(Kline, msg.value())
            assert record.symbol == key and msg.timestamp()[1] == record.open_time_ms
            out.setdefault(key, []).append(record)
        return out
    finally:
        consumer.close()


def committed_coverage(bootstrap: str, topic: str) -> dict[SeriesKey, Coverage]:
    """The last committed checkpoint of each series."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("kline-checkpoints"),
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        coverage = {}
        for msg in _consume_to_end(consumer, topic):
            key = SeriesKey.parse(msg.key().decode())
            coverage[key] = Coverage.decode(key.granularity_min, msg.value())
        return coverage
    finally:
        consumer.close()


def series_of(records: dict[str, list[Kline]], symbol: str, granularity: int) -> list[Kline]:
    """One series out of :func:`kafka_klines`, in topic order."""
    return [k for k in records.get(symbol, []) if k.granularity_min == granularity]
