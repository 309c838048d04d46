"""Derived and changelog records go to the producer as closed record batches, one per topic unless full."""

from __future__ import annotations

import asyncio

import pytest

from processors.app import Record, send_batched
from processors.checkpoint import CheckpointError, DeliveryErrors


class _Builder:
    """An aiokafka ``BatchBuilder`` holding at most ``capacity`` records."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes, int | None]] = []
        self.closed = False

    def append(self, *, key: bytes | None, value: bytes, timestamp: int | None) -> object | None:
        if self.closed or len(self.records) == self.capacity:
            return None
        self.records.append((key, value, timestamp))
        return object()

    def close(self) -> None:
        self.closed = True


class _Producer:
    def __init__(self, capacity: int, fail: bool = False) -> None:
        self.capacity = capacity
        self.fail = fail
        self.sent: list[tuple[str, int, _Builder]] = []

    def create_batch(self) -> _Builder:
        return _Builder(self.capacity)

    async def send_batch(self, builder: _Builder, topic: str, *, partition: int) -> asyncio.Future[object]:
        assert builder.closed, "a batch is closed before it is sent, so it does not linger"
        self.sent.append((topic, partition, builder))
        delivery: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.fail:
            delivery.set_exception(OSError("broker gone"))
        else:
            delivery.set_result(None)
        return delivery


async def test_records_go_out_per_topic_in_order_split_when_a_batch_is_full() -> None:
    producer = _Producer(capacity=2)
    records: list[Record] = [("a", b"k", f"a{i}".encode(), i) for i in range(5)]
    records.insert(1, ("b", None, b"b0", None))
    counts = await send_batched(producer, 3, records, DeliveryErrors())
    assert counts == {"a": 5, "b": 1}
    assert [(topic, partition, [r[1] for r in builder.records]) for topic, partition, builder in producer.sent] == [
        ("a", 3, [b"a0", b"a1"]),
        ("a", 3, [b"a2", b"a3"]),
        ("a", 3, [b"a4"]),
        ("b", 3, [b"b0"]),
    ]
    assert producer.sent[-1][2].records == [(None, b"b0", None)]


async def test_nothing_to_send_sends_nothing() -> None:
    producer = _Producer(capacity=2)
    assert await send_batched(producer, 0, [], DeliveryErrors()) == {}
    assert producer.sent == []


async def test_a_failed_batch_is_raised_by_the_next_checkpoint() -> None:
    errors = DeliveryErrors()
    await send_batched(_Producer(capacity=2, fail=True), 0, [("a", b"k", b"v", 1)], errors)
    await asyncio.sleep(0)
    with pytest.raises(CheckpointError, match="broker gone"):
        errors.raise_first()


async def test_a_record_larger_than_a_batch_is_refused() -> None:
    with pytest.raises(CheckpointError, match="exceeds the batch size"):
        await send_batched(_Producer(capacity=0), 0, [("a", b"k", b"v", 1)], DeliveryErrors())
