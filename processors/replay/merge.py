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

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate, compress, repeat
from operator import and_, sub
from typing import Any, NamedTuple, cast

from processors.replay.errors import ReplayError
from processors.replay.times import TimeRange
from schemas.derived import Imbalance, ImbalanceBar, KlineBar, LateEvent, TickerBar
from schemas.records import DeadLetter, Depth50, Kline, TickerV2

__all__ = ["Batch", "Merger", "Record", "Replayed", "Source"]

Record = TickerV2 | Depth50 | Kline | DeadLetter | TickerBar | KlineBar | Imbalance | ImbalanceBar | LateEvent
"""Any record type of the catalog (raw or derived)."""

_NOTHING_READ = -(2**62)


class Batch(NamedTuple):
    """Records fetched from one partition, in offset order, as columns (what ``consume()`` gives, transposed)."""

    timestamps: list[int]
    """Kafka record timestamps, in ms."""
    offsets: list[int]
    keys: list[bytes | None]
    values: list[bytes | None]


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


_Entry = tuple[int, int, int, int, int, str, bytes | None, bytes]
"""A buffered record: the fields of :class:`Replayed`, with the payload for the value."""
_TOPIC_INDEX, _VALUE = 1, 7
_REPLAYED = cast(Callable[[tuple[Any, ...]], Replayed], partial(tuple.__new__, Replayed))
"""A :class:`Replayed` from a tuple of its fields, without a Python-level call."""


@dataclass(frozen=True, slots=True)
class Source:
    """One partition of one requested topic."""

    topic: str
    topic_index: int
    partition: int
    end_offset: int
    """Exclusive: records at or past it were written after the replay began, and are not part of it."""
    lateness_ms: int
    decode: Callable[[Sequence[bytes]], list[Record]]
    """Payloads to records, a batch at a time; the same for every partition of a topic."""


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
        self._decoders = {source.topic_index: source.decode for source in self._sources}
        self._pending: list[_Entry] = []
        """Accepted records, undecoded; sorted (a few sorted runs merge in linear time) when the ready ones are
        taken."""
        self._ready = 0
        """How many records at the start of the (sorted) buffer are ready and not taken yet."""
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
        return len(self._pending)

    @property
    def finished(self) -> bool:
        """Every source is finished and every record emitted."""
        return not self._open and not self._pending

    def is_open(self, index: int) -> bool:
        """Whether source ``index`` may still contribute records."""
        return index in self._open

    def push(self, index: int, batch: Batch) -> bool:
        """Add records fetched from source ``index``, in offset order; True once that source is finished.

        A column at a time (a running maximum for the clamp, ``compress`` for the filters): a few C-level steps
        per record. Payloads are decoded when taken, by :meth:`pop_ready`."""
        if index not in self._open:
            return True
        source = self._sources[index]
        timestamps, offsets, keys, values = batch
        first = bisect_left(offsets, self._next_offset[index])  # a re-delivery after a seek: already seen
        stop = bisect_left(offsets, source.end_offset, first)
        horizon = self._range.end_ms + source.lateness_ms
        if first < stop and max(timestamps[first:stop]) >= horizon:
            stop = next(i for i in range(first, stop) if timestamps[i] >= horizon)
        if first < stop:
            self._accept(index, timestamps[first:stop], offsets[first:stop], keys[first:stop], values[first:stop])
        if stop < len(offsets) or self._next_offset[index] >= source.end_offset:
            self.finish(index)
            return True
        return False

    def _accept(
        self,
        index: int,
        timestamps: list[int],
        offsets: list[int],
        keys: list[bytes | None],
        values: list[bytes | None],
    ) -> None:
        source = self._sources[index]
        highs = list(accumulate(timestamps, max, initial=self._high[index]))
        del highs[0]  # highs[i]: the newest timestamp up to record i; merge at most lateness_ms below it
        self._high[index] = highs[-1]
        self._next_offset[index] = offsets[-1] + 1
        self.read += len(offsets)
        merge_ts = list(map(max, timestamps, map(sub, highs, repeat(source.lateness_ms))))
        start, end = self._range.start_ms, self._range.end_ms
        wanted: list[bool] | None = None
        if min(timestamps) < start or max(timestamps) >= end:
            wanted = [start <= timestamp < end for timestamp in timestamps]
        if self._keys is not None:
            in_keys = map(self._keys.__contains__, keys)
            wanted = list(in_keys if wanted is None else map(and_, wanted, in_keys))
        if wanted is not None:
            merge_ts, offsets, timestamps, keys, values = (
                list(compress(column, wanted)) for column in (merge_ts, offsets, timestamps, keys, values)
            )
        if None in values:
            offset = offsets[values.index(None)]
            raise ReplayError(f"{source.topic} partition {source.partition} offset {offset}: a record without a value")
        self.clamped += sum(map(int.__ne__, merge_ts, timestamps))
        self._pending += zip(
            merge_ts,
            repeat(source.topic_index),
            repeat(source.partition),
            offsets,
            timestamps,
            repeat(source.topic),
            keys,
            values,
        )

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

    def pop_ready(self, limit: int | None = None) -> list[Replayed]:
        """Buffered records no source can still precede, in merge order: all of them, or the next ``limit``.

        Records are decoded here, not when pushed: the buffer holds compact payloads, and a few records decoded
        at a time are still in the CPU caches when the caller uses them."""
        pending = self._pending
        if not self._ready:
            pending.sort()
            bounds = self._bounds()
            self._ready = bisect_left(pending, min(bounds)[0]) if bounds else len(pending)
        count = self._ready if limit is None else min(limit, self._ready)
        taken = pending[:count]
        del pending[:count]
        self._ready -= count
        return self._decoded(taken)

    def _decoded(self, entries: list[_Entry]) -> list[Replayed]:
        if not entries:
            return []
        columns: list[Sequence[Any]] = list(zip(*entries, strict=True))
        payloads = columns[_VALUE]
        if len(self._decoders) == 1:
            columns[_VALUE] = next(iter(self._decoders.values()))(payloads)
        else:  # each topic's records decoded together, then put back in merge order
            values: list[Record | None] = [None] * len(entries)
            for topic_index, decode in self._decoders.items():
                positions = list(compress(range(len(entries)), map(topic_index.__eq__, columns[_TOPIC_INDEX])))
                for position, value in zip(positions, decode(list(map(payloads.__getitem__, positions))), strict=True):
                    values[position] = value
            columns[_VALUE] = values
        return list(map(_REPLAYED, zip(*columns, strict=True)))

    def blocking(self) -> list[int]:
        """The open sources the merge is waiting for: fetching others only grows the buffer."""
        bounds = self._bounds()
        if not bounds:
            return []
        frontier_ms = min(bounds)[0][0]
        return sorted(i for bound, i in bounds if bound[0] == frontier_ms)
