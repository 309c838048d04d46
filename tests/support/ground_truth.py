"""What the fake exchange delivered, as the records a correct producer publishes, and what Kafka holds.

Receive timestamps are the producer's own clock, so comparisons blank them (``receive_ts_ns=0``); every other
field must match exactly.

Two orders of truth: the fake's own (:meth:`Recorder.delivered`, exchange order), right whenever every connection
delivers a stream in order; and the order the producer received the frames in (``as_received=True``), needed once
frames are injected out of order: see :func:`received_in_order`.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable
from typing import Any

from confluent_kafka import DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer

from ops.fake_exchange import Delivered, FakeExchange
from producers.sink import Topics
from schemas.codec import from_datum
from schemas.records import DeadLetter, Depth50, TickerV2
from schemas.registry import registry_client

__all__ = [
    "assert_exactly_once",
    "delivered_books",
    "delivered_tickers",
    "kafka_records",
    "received_in_order",
    "sent_frames",
    "without_receive_time",
]


def _ticker(delivered: Delivered) -> TickerV2:
    data = delivered.payload()["data"]
    return TickerV2(
        data["symbol"],
        data["sequence"],
        data["bestBidPrice"],
        str(data["bestBidSize"]),
        data["bestAskPrice"],
        str(data["bestAskSize"]),
        data["ts"],
        0,
    )


def _book(delivered: Delivered) -> Depth50:
    data = delivered.payload()["data"]
    return Depth50(
        delivered.arg,
        data["sequence"],
        tuple(level[0] for level in data["bids"]),
        tuple(str(level[1]) for level in data["bids"]),
        tuple(level[0] for level in data["asks"]),
        tuple(str(level[1]) for level in data["asks"]),
        data["ts"],
        0,
    )


def sent_frames(fx: FakeExchange) -> list[Delivered]:
    """Every frame the fake sent, all kinds: each connection's in send order, merged across them by send time."""
    recorder = fx.recorder
    return list(heapq.merge(*(recorder.connection_frames(c) for c in recorder.connections()), key=lambda d: d.sent_ns))


def received_in_order(fx: FakeExchange, channel: str, symbol: str) -> list[Delivered]:
    """The frames of one stream a correct producer publishes, taken in the order it received them.

    That order is each connection's send order, merged across connections by send time. The documented sequence
    rules then keep a frame only when its sequence is higher than every one kept before: a Depth50 resend, a
    duplicate (same sequence) and a regression (lower sequence, e.g. the later-sent frame of a swapped pair) are
    dropped. Without injected reordering this equals the fake's exchange-order ground truth.
    """
    kept: list[Delivered] = []
    for frame in sent_frames(fx):
        mine = frame.kind == "data" and frame.channel == channel and frame.arg == symbol
        if mine and (not kept or frame.sequence > kept[-1].sequence):
            kept.append(frame)
    return kept


def delivered_tickers(fx: FakeExchange, symbol: str, *, as_received: bool = False) -> list[TickerV2]:
    """Every distinct tickerV2 event the fake sent for ``symbol``, in exchange (or receive) order."""
    frames = received_in_order(fx, "tickerV2", symbol) if as_received else fx.recorder.delivered("tickerV2", symbol)
    return [_ticker(d) for d in frames]


def delivered_books(fx: FakeExchange, symbol: str, *, as_received: bool = False) -> list[Depth50]:
    """Every distinct Depth50 book (unchanged resends collapsed) the fake sent for ``symbol``."""
    channel = "level2Depth50"
    frames = received_in_order(fx, channel, symbol) if as_received else fx.recorder.delivered_books(channel, symbol)
    return [_book(d) for d in frames]


def without_receive_time(records: Iterable[Any]) -> list[Any]:
    """The records with the producer-clock field blanked, for exact comparison with ground truth."""
    return [dataclasses.replace(record, receive_ts_ns=0) for record in records]


def kafka_records(bootstrap: str, registry_url: str, topic: str, record_type: type) -> dict[str, list[Any]]:
    """Every record of ``topic`` decoded with a plain ``DeserializingConsumer`` (read_committed), per key."""
    deserializer = AvroDeserializer(registry_client(registry_url))
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ground-truth-{topic}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "value.deserializer": deserializer,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        out: dict[str, list[Any]] = {}
        remaining = {p for p, end in ends.items() if end > 0}
        while remaining:
            msg = consumer.poll(10)
            if msg is None:
                raise TimeoutError(f"{topic}: partitions {sorted(remaining)} not read to their end")
            if msg.error():
                raise RuntimeError(msg.error())
            key = bytes(msg.key()).decode()  # type: ignore[arg-type]
            out.setdefault(key, []).append(from_datum(record_type, msg.value()))  # type: ignore[arg-type]
            partition, offset = msg.partition(), msg.offset()
            if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                remaining.discard(partition)
        return out
    finally:
        consumer.close()


def assert_exactly_once(
    fx: FakeExchange, bootstrap: str, registry_url: str, topics: Topics, *, as_received: bool = False
) -> int:
    """Kafka holds every delivered event once, in order per symbol, and each malformed frame in the dead-letter
    topic (raw bytes, reason); returns how many market-data records were checked."""
    tickers = kafka_records(bootstrap, registry_url, topics.ticker_v2, TickerV2)
    books = kafka_records(bootstrap, registry_url, topics.depth50, Depth50)
    symbols = [contract.symbol for contract in fx.market.model.contracts]
    assert set(tickers) | set(books) <= set(symbols)
    for symbol in symbols:
        expected = delivered_tickers(fx, symbol, as_received=as_received)
        assert without_receive_time(tickers.get(symbol, [])) == expected, f"tickerV2 {symbol}"
        expected_books = delivered_books(fx, symbol, as_received=as_received)
        assert without_receive_time(books.get(symbol, [])) == expected_books, f"Depth50 {symbol}"
    letters = kafka_records(bootstrap, registry_url, topics.dead_letter, DeadLetter)
    malformed = [frame.text.encode() for frame in sent_frames(fx) if frame.kind == "malformed"]
    assert sorted(letter.raw for letter in letters.get("ws", [])) == sorted(malformed)
    assert set(letters) <= {"ws"} and all(letter.reason.startswith("malformed") for letter in letters.get("ws", []))
    return sum(map(len, tickers.values())) + sum(map(len, books.values()))
