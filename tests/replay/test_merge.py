"""The pure merge core: order, tie-break, clamp, filters, and independence from how fetches are batched."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from processors.replay import Merger, Replayed, Source, TimeRange
from processors.replay.merge import Batch, Record
from schemas.records import TickerV2

EVERYTHING = TimeRange(0, 10**9)
Fetched = tuple[int, int, bytes, bytes]
"""One record as read: (timestamp ms, offset, key, value payload)."""


def _decode(payloads: Sequence[bytes]) -> list[Record]:
    out: list[Record] = []
    for payload in payloads:
        symbol, ts = payload.decode().split(":")
        out.append(TickerV2(symbol, int(ts), "1", "1", "2", "1", int(ts) * 1_000_000, 0))
    return out


def _batch(rows: Sequence[Fetched]) -> Batch:
    return Batch([row[0] for row in rows], [row[1] for row in rows], [row[2] for row in rows], [row[3] for row in rows])


def _partition(rng: random.Random, count: int, disorder_ms: int) -> list[Fetched]:
    now = 1_000
    out: list[Fetched] = []
    for offset in range(count):
        now += rng.choice((0, 0, 1, 3))
        ts = now - (rng.randint(1, disorder_ms) if rng.random() < 0.1 else 0)
        symbol = rng.choice(("A", "B"))
        out.append((ts, offset, symbol.encode(), f"{symbol}:{ts}".encode()))
    return out


def _sources(streams: Sequence[list[Fetched]], lateness_ms: int) -> list[Source]:
    return [Source(f"t{i % 2}", i % 2, i // 2, len(stream), lateness_ms, _decode) for i, stream in enumerate(streams)]


def _run(
    streams: Sequence[list[Fetched]],
    lateness_ms: int,
    seed: int,
    time_range: TimeRange = EVERYTHING,
    keys: set[bytes] | None = None,
) -> list[Replayed]:
    """Feed the streams in random interleavings and batch sizes, as fetches would arrive; take the ready records
    all at once or a few at a time."""
    rng = random.Random(seed)
    merger = Merger(_sources(streams, lateness_ms), time_range, keys)
    positions = [0] * len(streams)
    out: list[Replayed] = []
    while not merger.finished:
        i = rng.randrange(len(streams))
        if merger.is_open(i):
            size = rng.randint(1, 50)
            batch = streams[i][positions[i] : positions[i] + size]
            positions[i] += size
            merger.push(i, _batch(batch))
        limit = rng.choice((None, 1, 7))
        while ready := merger.pop_ready(limit):
            out += ready
    return out


@pytest.fixture
def streams() -> list[list[Fetched]]:
    rng = random.Random(3)
    return [_partition(rng, 400, 30) for _ in range(4)]


def test_output_is_independent_of_fetch_batching(streams: list[list[Fetched]]) -> None:
    runs = [_run(streams, 10, seed) for seed in range(5)]
    assert all(run == runs[0] for run in runs)
    assert len(runs[0]) == sum(map(len, streams))


def test_sorted_by_merge_key_and_by_time_within_lateness(streams: list[list[Fetched]]) -> None:
    wide = _run(streams, 50, 1)  # lateness above the data's disorder: exact time order
    assert [r[:4] for r in wide] == sorted(r[:4] for r in wide)
    assert [r.timestamp_ms for r in wide] == sorted(r.timestamp_ms for r in wide)
    narrow = _run(streams, 5, 1)  # some records are clamped: still sorted by merge key, deterministic
    assert [r[:4] for r in narrow] == sorted(r[:4] for r in narrow)
    assert any(r.merge_ts_ms > r.timestamp_ms for r in narrow)


def test_ties_go_by_topic_position_then_partition_then_offset() -> None:
    stream: list[Fetched] = [(5, 0, b"A", b"A:5"), (5, 1, b"A", b"A:5")]
    out = _run([stream, list(stream), list(stream), list(stream)], 0, 0)
    assert [(r.topic_index, r.partition, r.offset) for r in out] == [
        (0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)
    ]  # fmt: skip


def test_lateness_zero_keeps_offset_order(streams: list[list[Fetched]]) -> None:
    out = _run(streams, 0, 2)
    for topic_index, partition in {(r.topic_index, r.partition) for r in out}:
        offsets = [r.offset for r in out if (r.topic_index, r.partition) == (topic_index, partition)]
        assert offsets == sorted(offsets)


def test_range_keys_and_horizon(streams: list[list[Fetched]]) -> None:
    window = TimeRange(1_100, 1_300)
    full = _run(streams, 10, 4)
    part = _run(streams, 10, 4, window, {b"B"})
    assert part == [r for r in full if r.key == b"B" and window.start_ms <= r.timestamp_ms < window.end_ms]


def test_a_source_ends_at_its_end_offset_or_past_the_horizon() -> None:
    merger = Merger([Source("t", 0, 0, 3, 0, _decode), Source("t", 0, 1, 99, 10, _decode)], TimeRange(0, 100))
    assert merger.push(0, _batch([(1, 0, b"A", b"A:1"), (2, 1, b"A", b"A:2"), (3, 2, b"A", b"A:3")]))
    assert not merger.push(1, _batch([(50, 0, b"A", b"A:50"), (109, 1, b"A", b"A:109")]))
    assert merger.push(1, _batch([(110, 2, b"A", b"A:110"), (5, 3, b"A", b"A:5")]))
    assert [r.timestamp_ms for r in merger.pop_ready()] == [1, 2, 3, 50]
    assert merger.finished
