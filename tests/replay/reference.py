"""The merge order as the docs state it, computed the slow obvious way: the oracle of the replay tests."""

from __future__ import annotations

from collections.abc import Sequence

from tests.replay.data import Published

Key = tuple[int, int, int, int]


def expected_order(
    topics: Sequence[str],
    contents: dict[str, list[Published]],
    start_ms: int,
    end_ms: int,
    lateness_ms: dict[str, int],
    symbols: Sequence[str] = (),
) -> list[tuple[Key, Published]]:
    """Per partition in offset order: clamp to (newest so far - lateness), stop at end + lateness, keep the
    range and symbols; then sort everything by (merge ts, topic position, partition, offset)."""
    keys = {s.encode() for s in symbols}
    out: list[tuple[Key, Published]] = []
    for position, topic in enumerate(topics):
        lateness = lateness_ms[topic]
        for partition in sorted({p.partition for p in contents[topic]}):
            records = sorted((p for p in contents[topic] if p.partition == partition), key=lambda p: p.offset)
            started = [p for p in records if p.timestamp_ms >= start_ms]
            if not started:
                continue
            high: int | None = None
            for p in records[records.index(started[0]) :]:
                if p.timestamp_ms >= end_ms + lateness:
                    break
                merge_ts = p.timestamp_ms if high is None else max(p.timestamp_ms, high - lateness)
                high = p.timestamp_ms if high is None else max(high, p.timestamp_ms)
                if start_ms <= p.timestamp_ms < end_ms and (not keys or p.key in keys):
                    out.append(((merge_ts, position, partition, p.offset), p))
    out.sort(key=lambda item: item[0])
    return out
