"""What the replay tests expect, read from the topics with a plain consumer, and how they publish what the live
jobs would (derived records, copies of raw ones) with the producers' keys and timestamps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message, Producer

from schemas.catalog import RecordSchema
from schemas.codec import AvroCodec
from schemas.records import Depth50, Kline, TickerV2
from schemas.registry import codec_for, registry_client

__all__ = ["T0_MS", "Published", "exchange_time_ms", "publish", "read_back"]

T0_MS = 1_731_665_520_000
"""Where the fake exchange's clock starts: a whole minute (2024-11-15T10:12:00Z), so kline and bar boundaries
fall on round offsets from it."""


def exchange_time_ms(record: Any) -> int:
    """The Kafka timestamp the producers give a raw record (or the processors a derived one)."""
    if isinstance(record, TickerV2):
        return record.exchange_ts_ns // 1_000_000
    if isinstance(record, Depth50):
        return record.exchange_ts_ms
    if isinstance(record, Kline):
        return record.open_time_ms
    if hasattr(record, "bar_end_ms"):
        return int(record.bar_end_ms)
    if hasattr(record, "exchange_ts_ms"):
        return int(record.exchange_ts_ms)
    return int(record.event_ts_ns) // 1_000_000


@dataclass(frozen=True, slots=True)
class Published:
    """One record as the tests expect to find it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes
    value: Any


def publish(
    bootstrap: str,
    registry_url: str,
    topic: str,
    schema: RecordSchema,
    records: Sequence[Any],
    partition_of: Callable[[str], int] | None = None,
    timestamp_of: Callable[[Any], int] = exchange_time_ms,
) -> None:
    """Encode through the registry (as the producers do) and publish, key = symbol, timestamp = exchange time."""
    codec: AvroCodec[Any] = codec_for(registry_client(registry_url), schema, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    errors: list[str] = []

    def delivered(error: Any, message: Message) -> None:
        if error is not None:
            errors.append(str(error))

    for record in records:
        symbol: str = record.symbol
        producer.produce(
            topic,
            codec.encode(record),
            symbol.encode(),
            partition=-1 if partition_of is None else partition_of(symbol),
            timestamp=timestamp_of(record),
            on_delivery=delivered,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors


def read_back(bootstrap: str, registry_url: str, topic: str, schema: RecordSchema) -> list[Published]:
    """Everything in ``topic`` with a plain consumer, decoded with the project codec: the tests' ground truth."""
    from tests.support.kafka import read_all

    codec: AvroCodec[Any] = codec_for(registry_client(registry_url), schema, topic)

    def decode(message: Message) -> Published:
        partition, offset, key = message.partition(), message.offset(), message.key()
        assert partition is not None and offset is not None and key is not None
        return Published(topic, partition, offset, message.timestamp()[1], key, codec.decode(message.value() or b""))

    return read_all(bootstrap, topic, decode=decode)
