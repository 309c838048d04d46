"""The replay's pure core: per-partition record streams in, one deterministic exchange-time-ordered stream out.

No Kafka here (the reader feeds it what it fetched), so the order is a function of the partitions' contents and
the request alone, never of fetch timing or batch boundaries.

**Merge order.** Every record gets a merge key, and the output is sorted by it:

    (merge_ts_ms, topic_index, partition, offset)

- ``merge_ts_ms`` is the Kafka record timestamp (exchange time in ms: the producers and processors set it so)
  unless the record is more than ``lateness_ms`` behind the newest timestamp read before it from its partition;
  then it is that newest timestamp minus ``lateness_ms``: a very late record is placed where a record exactly
  ``lateness_ms`` late would be, never earlier. This clamp is what lets the merge emit anything before the end
  of the input, and it only looks at the record's own partition, so it is deterministic.
- Ties at the same millisecond go by ``topic_index`` (the position of the topic in the request), then the
  partition number, then the offset. Within one partition the offset is the produce order (for a symbol, its
  exchange sequence order), so equal-millisecond records keep the order the exchange gave them.
- ``lateness_ms = 0`` gives each partition's records in offset order (merge_ts is the running maximum), which
  is the order a live consumer saw: ``verify`` feeds the processors that way.

**Which records.** Records with ``start_ms <= timestamp < end_ms`` and, if symbols are given, a key among
them. A partition is read from the first offset with a timestamp ``>= start_ms`` (all earlier offsets hold
earlier records) up to the end offset it had when the replay began, or to its first record at or after
``end_ms + lateness_ms``, whichever comes first: a record later than that behind its partition is outside the
replay (consistent with the clamp: it would sort after the range end anyway).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from processors.replay.errors import ReplayError
from processors.replay.times import TimeRange
from schemas.derived import Imbalance, ImbalanceBar, KlineBar, LateEvent, TickerBar
from schemas.records import DeadLetter, Depth50, Kline, TickerV2

__all__ = ["Fetched", "Merger", "Record", "Replayed", "Source"]

Record = TickerV2 | Depth50 | Kline | DeadLetter | TickerBar | KlineBar | Imbalance | ImbalanceBar | LateEvent
"""Any record type of the catalog (raw or derived)."""

Fetched = tuple[int, int, bytes | None, bytes | None]
"""One record as read: (timestamp ms, offset, key, value payload)."""

_NOTHING_READ = -(2**62)


class Replayed(NamedTuple):
    """One replayed record; tuples compare by the merge key, the first four fields."""

    merge_ts_ms: int
    """Where the merge placed the record: ``timestamp_ms`` unless the record was later than the lateness."""
    topic_index: int
    partition: int
    offset: int
    timestamp_ms: int
    """The Kafka record timestamp: exchange time, in ms."""
    topic: str
    key: bytes | None
    """The Kafka key: the symbol (UTF-8) for market data and derived records, the source for dead letters."""
    value: Record


@dataclass(frozen=True, slots=True)
class Source:
    """One partition of one requested topic."""

    topic: str
    topic_index: int
    partition: int
    end_offset: int
    """Exclusive: records at or past it were written after the replay began, and are not part of it."""
    lateness_ms: int
    decode: Callable[[bytes], Record]


class Merger:
    """A k-way merge of partition streams, fed batches in offset order, emitting records once no partition can
    still produce a smaller merge key."""

    def __init__(self, sources: Sequence[Source], time_range: TimeRange, keys: Iterable[bytes] | None = None) -> None:
        self._sources = tuple(sources)
        self._range = time_range
        self._keys = None if keys is None else frozenset(keys)
        self._high = [_NOTHING_READ] * len(self._sources)
        self._next_offset = [0] * len(self._sources)
        self._open = set(range(len(self._sources)))
        self._heap: list[Replayed] = []
        self.read = 0
        """Records fetched, in the range or not."""
        self.clamped = 0
        """Records in the range placed after their timestamp because they were later than the lateness."""

    @property
    def sources(self) -> tuple[Source, ...]:
        return self._sources

    @property
    def buffered(self) -> int:
        """Records accepted and not yet emitted."""
        return len(self._heap)

    @property
    def finished(self) -> bool:
        """Every source is finished and every record emitted."""
        return not self._open and not self._heap

    def is_open(self, index: int) -> bool:
        """Whether source ``index`` may still contribute records."""
        return index in self._open

    def push(self, index: int, batch: Sequence[Fetched]) -> bool:
        """Add records fetched from source ``index``, in offset order; True once that source is finished."""
        if index not in self._open:
            return True
        source = self._sources[index]
        start, end = self._range.start_ms, self._range.end_ms
        lateness = source.lateness_ms
        horizon = end + lateness
        end_offset = source.end_offset
        keys = self._keys
        decode = source.decode
        topic, topic_index, partition = source.topic, source.topic_index, source.partition
        heap = self._heap
        high = self._high[index]
        next_offset = self._next_offset[index]
        finished = False
        read = clamped = 0
        for timestamp, offset, key, value in batch:
            if offset < next_offset:
                continue  # a re-delivery after a seek: already seen
            if offset >= end_offset or timestamp >= horizon:
                finished = True
                break
            read += 1
            next_offset = offset + 1
            if timestamp > high:
                high = merge_ts = timestamp
            else:
                floor = high - lateness
                merge_ts = timestamp if timestamp > floor else floor
            if timestamp < start or timestamp >= end or (keys is not None and key not in keys):
                continue
            if value is None:
                raise ReplayError(f"{topic} partition {partition} offset {offset}: a record without a value")
            if merge_ts != timestamp:
                clamped += 1
            heapq.heappush(
                heap, Replayed(merge_ts, topic_index, partition, offset, timestamp, topic, key, decode(value))
            )
        self._high[index] = high
        self._next_offset[index] = next_offset
        self.read += read
        self.clamped += clamped
        if finished or next_offset >= end_offset:
            self.finish(index)
            return True
        return False

    def finish(self, index: int) -> None:
        """Source ``index`` has nothing more (end of partition, or the reader stopped it)."""
        self._open.discard(index)

    def _bounds(self) -> list[tuple[tuple[int, int, int, int], int]]:
        """Per open source, the smallest merge key it can still produce: later records have a timestamp at
        least ``high - lateness`` (the clamp) and a larger offset."""
        return [
            (
                (
                    self._high[i] - self._sources[i].lateness_ms,
                    self._sources[i].topic_index,
                    self._sources[i].partition,
                    self._next_offset[i],
                ),
                i,
            )
            for i in self._open
        ]

    def pop_ready(self) -> list[Replayed]:
        """Every buffered record that no source can still precede, in merge order."""
        heap = self._heap
        bounds = self._bounds()
        out: list[Replayed] = []
        if not bounds:
            while heap:
                out.append(heapq.heappop(heap))
            return out
        frontier = min(bounds)[0]
        pop = heapq.heappop
        while heap and heap[0] < frontier:
            out.append(pop(heap))
        return out

    def blocking(self) -> list[int]:
        """The open sources the merge is waiting for: fetching others only grows the buffer."""
        bounds = self._bounds()
        if not bounds:
            return []
        frontier_ms = min(bounds)[0][0]
        return sorted(i for bound, i in bounds if bound[0] == frontier_ms)
