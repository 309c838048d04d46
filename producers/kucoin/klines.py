"""REST klines: rows to records, a paging plan over a time range, and which candles are closed.

``GET /api/v1/kline/query`` returns at most 500 rows per call and omits intervals without trades, so a page
can be short or empty without the range being finished. The plan therefore tracks how far it has fetched (a
cursor), never infers it from the rows, which guarantees progress past empty stretches and termination.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.records import Kline

from .exceptions import ResponseFormatError
from .lossless import decimal_text

__all__ = [
    "GRANULARITIES_MIN",
    "MAX_ROWS_PER_PAGE",
    "KlinePlan",
    "KlineRequest",
    "align_up",
    "closed_klines",
    "parse_kline_rows",
]

GRANULARITIES_MIN = frozenset({1, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 10080})
MAX_ROWS_PER_PAGE = 500
_MINUTE_MS = 60_000
_WEEK_MIN = 10080
_MONDAY_MS = 4 * 24 * 3600 * 1000
"""Weekly candles start on Mondays; the epoch was a Thursday."""


def _step_ms(granularity_min: int) -> int:
    if granularity_min not in GRANULARITIES_MIN:
        raise ValueError(f"granularity {granularity_min} not in {sorted(GRANULARITIES_MIN)}")
    return granularity_min * _MINUTE_MS


def align_up(ts_ms: int, granularity_min: int) -> int:
    """The first candle start at or after ``ts_ms``."""
    step = _step_ms(granularity_min)
    origin = _MONDAY_MS if granularity_min == _WEEK_MIN else 0
    return origin - (origin - ts_ms) // step * step


def parse_kline_rows(data: Any, symbol: str, granularity_min: int, receive_ts_ns: int) -> tuple[Kline, ...]:
    """Rows ``[time ms, open, high, low, close, volume, turnover?]`` (REST order, unlike the WebSocket's)."""
    _step_ms(granularity_min)
    if type(data) is not list:
        raise ResponseFormatError("kline data is not a list")
    try:
        return tuple(_kline(row, symbol, granularity_min, receive_ts_ns) for row in data)
    except (TypeError, ValueError) as exc:
        raise ResponseFormatError(f"bad kline row: {exc}") from exc


def _kline(row: Any, symbol: str, granularity_min: int, receive_ts_ns: int) -> Kline:
    if type(row) is not list or len(row) not in (6, 7) or type(row[0]) is not int:
        raise ValueError(f"{row!r} is not [time ms, open, high, low, close, volume, turnover?]")
    return Kline(
        symbol=symbol,
        granularity_min=granularity_min,
        open_time_ms=row[0],
        open=decimal_text(row[1]),
        high=decimal_text(row[2]),
        low=decimal_text(row[3]),
        close=decimal_text(row[4]),
        volume=decimal_text(row[5]),
        turnover=decimal_text(row[6]) if len(row) == 7 else None,
        receive_ts_ns=receive_ts_ns,
    )


def closed_klines(klines: Iterable[Kline], now_ms: int) -> tuple[Kline, ...]:
    """Only candles whose interval has ended by ``now_ms``: an open candle still changes, so it is never
    published."""
    return tuple(k for k in klines if k.open_time_ms + k.granularity_min * _MINUTE_MS <= now_ms)


@dataclass(frozen=True, slots=True)
class KlineRequest:
    """One kline/query call covering candle starts in ``[from_ms, to_ms]`` (at most 500 of them)."""

    symbol: str
    granularity_min: int
    from_ms: int
    to_ms: int

    def params(self) -> dict[str, str | int]:
        """Query parameters for ``GET /api/v1/kline/query``."""
        return {
            "symbol": self.symbol,
            "granularity": self.granularity_min,
            "from": self.from_ms,
            "to": self.to_ms,
        }


@dataclass(frozen=True, slots=True)
class KlinePlan:
    """Fetch the candles starting in ``[start_ms, end_ms)``; ``cursor_ms`` is the first start not yet fetched.

    Windows hold at most 500 candle starts and ``to`` is the window end minus 1 ms, so a page cannot be cut by
    the server whether it treats ``to`` as inclusive or exclusive (candle starts are aligned).
    """

    symbol: str
    granularity_min: int
    start_ms: int
    end_ms: int
    cursor_ms: int

    @classmethod
    def create(cls, symbol: str, granularity_min: int, start_ms: int, end_ms: int) -> KlinePlan:
        """A plan from scratch; an empty or inverted range is simply already done."""
        return cls(symbol, granularity_min, start_ms, end_ms, align_up(start_ms, granularity_min))

    def resume_after(self, last_open_ms: int) -> KlinePlan:
        """Skip what is already stored, up to and including the candle that starts at ``last_open_ms``."""
        cursor = max(self.cursor_ms, align_up(last_open_ms + 1, self.granularity_min))
        return KlinePlan(self.symbol, self.granularity_min, self.start_ms, self.end_ms, cursor)

    @property
    def done(self) -> bool:
        """Whether every candle start in the range has been requested."""
        return self.cursor_ms >= self.end_ms

    def next_request(self) -> KlineRequest | None:
        """The next page to fetch, or ``None`` when the range is covered."""
        if self.done:
            return None
        window_end = min(self.cursor_ms + MAX_ROWS_PER_PAGE * _step_ms(self.granularity_min), self.end_ms)
        return KlineRequest(self.symbol, self.granularity_min, self.cursor_ms, window_end - 1)

    def advance(self, request: KlineRequest, page: Iterable[Kline]) -> tuple[KlinePlan, tuple[Kline, ...]]:
        """Consume the page of ``request``: the plan for the rest, and the page's candles inside the window.

        A full page (500 rows) whose last candle ends before the window does continues after that candle, in
        case the server cut it; otherwise, short or empty, the whole window is done (missing candles had no
        trades).
        """
        if request != self.next_request():
            raise ValueError(f"{request} is not this plan's next request")
        step = _step_ms(self.granularity_min)
        rows = tuple(page)
        window_end = request.to_ms + 1
        inside = {k.open_time_ms: k for k in rows if request.from_ms <= k.open_time_ms < window_end}
        cursor = window_end
        if len(rows) >= MAX_ROWS_PER_PAGE and inside:
            cursor = min(window_end, max(inside) + step)
        plan = KlinePlan(self.symbol, self.granularity_min, self.start_ms, self.end_ms, cursor)
        return plan, tuple(inside[start] for start in sorted(inside))
