"""What the fake exchange delivered, as the records a correct producer publishes, and what Kafka holds.

Receive timestamps are the producer's own clock, so comparisons blank them (``receive_ts_ns=0``); every other
field must match exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from confluent_kafka import DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer

from ops.fake_exchange import Delivered, FakeExchange
from schemas.codec import from_datum
from schemas.records import Depth50, TickerV2

__all__ = ["delivered_books", "delivered_tickers", "kafka_records", "without_receive_time"]


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


def delivered_tickers(fx: FakeExchange, symbol: str) -> list[TickerV2]:
    """Every distinct tickerV2 event the fake sent for ``symbol``, in exchange order."""
    return [_ticker(d) for d in fx.recorder.delivered("tickerV2", symbol)]


def delivered_books(fx: FakeExchange, symbol: str) -> list[Depth50]:
    """Every distinct Depth50 book (unchanged resends collapsed) the fake sent for ``symbol``."""
    return [_book(d) for d in fx.recorder.delivered_books("level2Depth50", symbol)]


def without_receive_time(records: Iterable[Any]) -> list[Any]:
    """The records with the producer-clock field blanked, for exact comparison with ground truth."""
    return [dataclasses.replace(record, receive_ts_ns=0) for record in records]


def kafka_records(bootstrap: str, registry_url: str, topic: str, record_type: type) -> dict[str, list[Any]]:
    """Every record of ``topic`` decoded with a plain ``DeserializingConsumer`` (read_committed), per key."""
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
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
