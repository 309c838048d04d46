"""Records to Kafka: Avro encoding, key = symbol, record timestamp = exchange time, and the dead-letter path.

A record the schema rejects (a value of the wrong type, a number out of range) never stops the producer: its
raw bytes go to the dead-letter topic with the reason, and it is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from producers.metrics import ProducerMetrics, Tally
from producers.publisher.kafka import KafkaPublisher
from schemas.codec import AvroCodec
from schemas.records import DeadLetter, Depth50, Kline, TickerV2

__all__ = ["RecordSink", "Topics"]


@dataclass(frozen=True, slots=True)
class Topics:
    """Kafka topic of each raw stream."""

    ticker_v2: str
    depth50: str
    kline: str
    dead_letter: str


@dataclass(frozen=True, slots=True)
class _Route:
    """Where the records of one stream go: their topic, their codec and their count of records produced."""

    topic: str
    codec: AvroCodec[Any]
    produced: Tally


class RecordSink:
    """Encode and publish raw records; route what cannot be encoded to the dead-letter topic."""

    def __init__(
        self,
        publisher: KafkaPublisher,
        topics: Topics,
        codecs: Mapping[str, AvroCodec[Any]],
        metrics: ProducerMetrics,
    ) -> None:
        self.publisher = publisher
        self.topics = topics
        produced = metrics.records_produced.labels
        self._ticker = _Route(topics.ticker_v2, codecs["ticker_v2"], produced(topics.ticker_v2))
        self._depth = _Route(topics.depth50, codecs["depth50"], produced(topics.depth50))
        self._kline = _Route(topics.kline, codecs["kline"], produced(topics.kline))
        self._dead = _Route(topics.dead_letter, codecs["dead_letter"], produced(topics.dead_letter))
        self._metrics = metrics

    def ticker(self, record: TickerV2, raw: bytes | str) -> None:
        """Publish one tickerV2 record (timestamp: its ns exchange time, in ms)."""
        self._publish(self._ticker, record, record.symbol, record.exchange_ts_ns // 1_000_000, raw)

    def depth(self, record: Depth50, raw: bytes | str) -> None:
        """Publish one Depth50 record."""
        self._publish(self._depth, record, record.symbol, record.exchange_ts_ms, raw)

    def kline(self, record: Kline) -> None:
        """Publish one closed candle (timestamp: its open time)."""
        self._publish(self._kline, record, record.symbol, record.open_time_ms, repr(record))

    def dead_letter(self, source: str, reason: str, raw: bytes | str, receive_ts_ns: int) -> None:
        """Keep an input we could not use, byte for byte, with the reason."""
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        letter = DeadLetter(source, reason, data, receive_ts_ns)
        dead = self._dead
        self.publisher.publish(dead.topic, source.encode(), dead.codec.encode(letter), receive_ts_ns // 1_000_000)
        dead.produced.inc()
        self._metrics.dead_letters.labels(reason.split(":", 1)[0][:40]).inc()

    def _publish(self, route: _Route, record: Any, symbol: str, timestamp_ms: int, raw: bytes | str) -> None:
        try:
            value = route.codec.encode(record)
        except (ValueError, TypeError, OverflowError) as exc:  # fastavro's verdict on a schema-invalid value
            self.dead_letter(f"schema:{route.codec.schema.name}", f"schema-invalid: {exc}", raw, record.receive_ts_ns)
            return
        self.publisher.publish(route.topic, symbol.encode(), value, timestamp_ms)
        route.produced.value += 1  # Tally.inc() without the call: once per record
