"""Test data for replay: records published through the real registry with the producers' keys and timestamps.

The replay tests only look at what is in the topics (their expectations come from reading the topics back
with a plain consumer), so the source of the data is this module alone: to replay what the real producers
wrote from the fake exchange instead, swap :func:`publish` for a run of the producer into the same topics.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message, Producer

from schemas.catalog import RecordSchema, by_name
from schemas.codec import AvroCodec
from schemas.records import Depth50, Kline, TickerV2
from schemas.registry import codec_for, registry_client

__all__ = [
    "T0_MS",
    "Published",
    "depth_books",
    "exchange_time_ms",
    "klines",
    "publish",
    "read_back",
    "tickers",
]

T0_MS = 1_731_665_520_000
"""A whole minute (2024-11-15T10:12:00Z), so kline and bar boundaries fall on round offsets from it."""


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


SYMBOLS = ("XBTUSDTM", "ETHUSDTM", "SOLUSDTM")


def tickers(
    count: int, seed: int = 1, start_ms: int = T0_MS, step_ms: int = 7, very_late: float = 0.0
) -> list[TickerV2]:
    """Ticks ``step_ms`` apart on average, several at the same millisecond, some a little out of order, and a
    fraction ``very_late`` 3 to 5 s late (beyond the processors' 2 s grace of 1 s bars)."""
    rng = random.Random(seed)
    out: list[TickerV2] = []
    now = start_ms
    sequences = dict.fromkeys(SYMBOLS, 1_000)
    for _ in range(count):
        symbol = rng.choice(SYMBOLS)
        now += rng.choice((0, 0, step_ms, 2 * step_ms))
        roll = rng.random()
        event_ms = now - (
            rng.randint(1, 40) if roll < 0.05 else rng.randint(3_000, 5_000) if roll > 1 - very_late else 0
        )
        sequences[symbol] += rng.randint(1, 3)
        bid = 60_000 + rng.randint(0, 400)
        ns = event_ms * 1_000_000 + rng.randint(0, 999_999)
        out.append(
            TickerV2(symbol, sequences[symbol], f"{bid}.5", str(rng.randint(1, 900)), f"{bid + 1}.0", "7", ns, ns + 9)
        )
    return out


def depth_books(count: int, seed: int = 2, start_ms: int = T0_MS, step_ms: int = 11, levels: int = 50) -> list[Depth50]:
    """Books ``step_ms`` apart, sometimes resent unchanged (same sequence)."""
    rng = random.Random(seed)
    out: list[Depth50] = []
    now = start_ms
    sequences = dict.fromkeys(SYMBOLS, 5_000)
    for _ in range(count):
        symbol = rng.choice(SYMBOLS)
        now += rng.choice((0, step_ms, 2 * step_ms))
        if rng.random() > 0.2:
            sequences[symbol] += rng.randint(1, 9)
        mid = 3_000 + rng.randint(0, 50)
        bids = tuple(f"{mid - 1 - i}.{rng.randint(0, 9)}" for i in range(levels))
        asks = tuple(f"{mid + 1 + i}.{rng.randint(0, 9)}" for i in range(levels))
        sizes = tuple(str(rng.randint(1, 5_000)) for _ in range(levels))
        out.append(Depth50(symbol, sequences[symbol], bids, sizes, asks, sizes[::-1], now, now * 1_000_000 + 5))
    return out


def klines(minutes: int, start_ms: int = T0_MS) -> list[Kline]:
    """Closed 1-minute candles for every symbol, in minute order."""
    out: list[Kline] = []
    for minute in range(minutes):
        for i, symbol in enumerate(SYMBOLS):
            price = 100 + minute + i
            out.append(
                Kline(
                    symbol,
                    1,
                    start_ms + minute * 60_000,
                    f"{price}",
                    f"{price + 2}",
                    f"{price - 1}",
                    f"{price + 1}",
                    "12",
                    "1200.5",
                    start_ms + (minute + 1) * 60_000,
                )
            )
    return out


KLINE = by_name("kline")
