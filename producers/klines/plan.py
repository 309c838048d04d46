"""What the kline job fetches next and what it has already published, as plain values (no I/O, no clock).

Per series (symbol, granularity) the job keeps a :class:`Coverage`: the candle starts whose fetch is committed to
Kafka, as sorted disjoint ``[from, to)`` intervals. It is stored in the checkpoint topic in the same transaction
as the candles, so after any crash it says exactly what the kline topic holds. A run asks for ``[start, end)``;
only the starts not covered yet are fetched (:class:`SeriesPlan`), which makes a restart, a second run over the
same range or a range that overlaps an earlier one publish every candle once and leave no hole.

A series is only ever planned up to :func:`closed_end`, the start of the candle still open at the exchange's
``now``: an open candle is never requested, so it can never be published or skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from producers.kucoin.klines import MAX_ROWS_PER_PAGE, KlinePlan, KlineRequest, align_up
from schemas.records import Kline

__all__ = [
    "Coverage",
    "SeriesKey",
    "SeriesPlan",
    "closed_end",
    "seconds_until_next_close",
]

_MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True, order=True)
class SeriesKey:
    """One candle series; its text form ``SYMBOL|granularity`` is the checkpoint record's key."""

    symbol: str
    granularity_min: int

    def text(self) -> str:
        """The checkpoint key."""
        return f"{self.symbol}|{self.granularity_min}"

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        """The inverse of :meth:`text` (``ValueError`` for anything else)."""
        symbol, separator, granularity = text.rpartition("|")
        if not separator or not symbol or not granularity.isdigit():
            raise ValueError(f"checkpoint key {text!r} is not SYMBOL|granularity")
        return cls(symbol, int(granularity))


@dataclass(frozen=True, slots=True)
class Coverage:
    """Candle starts already in the topic: sorted, disjoint, non-adjacent ``[from, to)`` with aligned bounds."""

    granularity_min: int
    intervals: tuple[tuple[int, int], ...] = ()

    def add(self, from_ms: int, to_ms: int) -> Coverage:
        """This coverage plus the starts in ``[from_ms, to_ms)``."""
        merged: list[tuple[int, int]] = []
        for start, end in sorted((*self.intervals, self._aligned(from_ms, to_ms))):
            if start >= end:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return Coverage(self.granularity_min, tuple(merged))

    def missing(self, from_ms: int, to_ms: int) -> tuple[tuple[int, int], ...]:
        """The parts of ``[from_ms, to_ms)`` not covered, in time order (aligned bounds)."""
        cursor, end = self._aligned(from_ms, to_ms)
        gaps: list[tuple[int, int]] = []
        for start, stop in self.intervals:
            if stop <= cursor:
                continue
            if start >= end:
                break
            if start > cursor:
                gaps.append((cursor, start))
            cursor = max(cursor, stop)
        if cursor < end:
            gaps.append((cursor, end))
        return tuple(gaps)

    def slots(self, from_ms: int, to_ms: int) -> int:
        """How many candle starts ``[from_ms, to_ms)`` has (what progress counts: present or missing)."""
        start, end = self._aligned(from_ms, to_ms)
        return max(0, end - start) // (self.granularity_min * _MINUTE_MS)

    def encode(self) -> bytes:
        """The checkpoint record's value: ``{"covered": [[from_ms, to_ms], ...]}``."""
        return json.dumps({"covered": [list(interval) for interval in self.intervals]}).encode()

    @classmethod
    def decode(cls, granularity_min: int, value: bytes) -> Coverage:
        """The inverse of :meth:`encode` (``ValueError`` for a value it did not write)."""
        try:
            intervals = json.loads(value)["covered"]
            pairs = [(int(start), int(end)) for start, end in intervals]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad checkpoint value {value[:80]!r}: {exc}") from exc
        coverage = cls(granularity_min)
        for start, end in pairs:
            coverage = coverage.add(start, end)
        return coverage

    def _aligned(self, from_ms: int, to_ms: int) -> tuple[int, int]:
        return align_up(from_ms, self.granularity_min), align_up(to_ms, self.granularity_min)


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """The pages still to fetch for one series: each gap of its coverage in ``[start, end)``, oldest first."""

    key: SeriesKey
    coverage: Coverage
    pending: tuple[KlinePlan, ...]

    @classmethod
    def create(cls, key: SeriesKey, coverage: Coverage, start_ms: int, end_ms: int) -> SeriesPlan:
        """Plan the uncovered part of ``[start_ms, end_ms)``."""
        gaps = coverage.missing(start_ms, end_ms)
        plans = tuple(KlinePlan.create(key.symbol, key.granularity_min, gap[0], gap[1]) for gap in gaps)
        return cls(key, coverage, plans)

    @property
    def done(self) -> bool:
        """Whether every gap has been fetched."""
        return not self.pending

    def slots(self) -> int:
        """Candle starts still to fetch."""
        return sum(self.coverage.slots(plan.cursor_ms, plan.end_ms) for plan in self.pending)

    def pages(self) -> int:
        """Calls still needed, assuming the server never cuts a page short (it may, rarely, add one)."""
        return sum(
            math.ceil(self.coverage.slots(plan.cursor_ms, plan.end_ms) / MAX_ROWS_PER_PAGE) for plan in self.pending
        )

    def next_request(self) -> KlineRequest | None:
        """The next page to fetch, or ``None`` when done."""
        return self.pending[0].next_request() if self.pending else None

    def advance(self, request: KlineRequest, page: Iterable[Kline]) -> tuple[SeriesPlan, tuple[Kline, ...]]:
        """Consume the page of ``request``: the plan for the rest (its coverage grown by what the page settled)
        and the candles to publish with that coverage."""
        plan, candles = self.pending[0].advance(request, page)
        coverage = self.coverage.add(request.from_ms, plan.cursor_ms)
        pending = self.pending[1:] if plan.done else (plan, *self.pending[1:])
        return SeriesPlan(self.key, coverage, pending), candles


def closed_end(now_ms: int, granularity_min: int) -> int:
    """The start of the candle open at ``now_ms``: every candle starting before it has closed."""
    return align_up(now_ms - granularity_min * _MINUTE_MS + 1, granularity_min)


def seconds_until_next_close(settled_ms: int, granularities: Iterable[int], max_wait_s: float) -> float:
    """How long live mode sleeps: until the next candle of any granularity closes at ``settled_ms`` (the
    exchange's time minus the settle delay), never more than ``max_wait_s`` (a clock that runs fast, as the
    fake's can)."""
    next_close = min(closed_end(settled_ms, g) + g * _MINUTE_MS for g in granularities)
    return max(0.0, min(max_wait_s, (next_close - settled_ms) / 1000))
