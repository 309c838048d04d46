"""Roll-up of closed 1-minute klines into 5m, 15m, 30m, 1h, 4h and 1d candles, comparable with KuCoin's own.

Alignment assumption: KuCoin Futures starts a candle of granularity ``g`` minutes at a multiple of ``g``
minutes since the Unix epoch, in UTC, so 1h candles start on the hour, 4h ones at 00/04/08/.../20 UTC and 1d
candles at 00:00 UTC. Evidence (``/work/shared/kucoin/captures``): the REST kline rows are all epoch
multiples of their granularity (15m ``1636459200000`` = 2021-11-09 12:00 UTC; 1h ``1706630400000`` = 16:00
UTC; 8h ``1728576000000`` = 16:00 UTC), and the weekly candle ``1653868800000`` is Monday 2022-05-30 00:00
UTC, which means day boundaries at midnight UTC, not at the exchange's UTC+8 office time. Weeks are the
exception (Monday, not the epoch's Thursday), so only granularities that divide one day are accepted.

Each 1-minute kline covers its whole minute, so it advances the symbol's watermark to its close time: the
last minute of a bar closes the bar at once (the default grace is 0, since closed candles arrive in order per
symbol). Minutes without trades are missing upstream (KuCoin's convention), so ``candle_count`` can be below
the bar length. A minute seen twice is refused as a ``duplicate`` LateEvent, never counted twice: each bar
keeps a bitmask of its minutes. Klines of other granularities on the input are ignored: they are what the
roll-up is compared with, not its input. Volume and turnover are summed exactly; OHLC keep the exchange's
text.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from processors.core import exact
from processors.core.windowing import WindowedProcessor, WindowEngine, WindowSpec
from schemas.derived import KlineBar, LateEvent
from schemas.records import Kline

__all__ = ["DEFAULT_GRANULARITIES_MIN", "PROCESSOR", "KlineRollupProcessor", "kline_windows"]

PROCESSOR = "kline_rollup"
DEFAULT_GRANULARITIES_MIN = (5, 15, 30, 60, 240, 1440)
_MINUTE_MS = 60_000
_DAY_MIN = 1440


def kline_windows(
    granularities_min: tuple[int, ...] = DEFAULT_GRANULARITIES_MIN,
    *,
    grace_ms: int = 0,
    emit_empty: bool = False,
) -> WindowSpec:
    """The window spec of a roll-up; every granularity must divide one day (see the module docstring)."""
    bad = [g for g in granularities_min if g <= 1 or _DAY_MIN % g]
    if bad:
        raise ValueError(f"granularities {bad} are not KuCoin-aligned roll-ups of 1 minute (must divide 1440)")
    intervals = tuple(g * _MINUTE_MS for g in granularities_min)
    return WindowSpec(intervals, {interval: grace_ms for interval in intervals}, emit_empty)


@dataclass(slots=True)
class _Bar:
    open: str
    open_minute: int
    high: str
    low: str
    close: str
    close_minute: int
    volume: Decimal
    turnover: Decimal | None
    count: int
    first_minute: int
    minutes: int
    """Bitmask of the minutes already rolled in, bit 0 being ``first_minute`` (the bar start)."""


class _KlineLogic:
    def open(self, kline: Kline, start_ms: int) -> _Bar:
        minute = kline.open_time_ms // _MINUTE_MS
        first = start_ms // _MINUTE_MS
        return _Bar(
            kline.open,
            minute,
            kline.high,
            kline.low,
            kline.close,
            minute,
            exact.parse(kline.volume),
            None if kline.turnover is None else exact.parse(kline.turnover),
            1,
            first,
            1 << (minute - first),
        )

    def add(self, bar: _Bar, kline: Kline) -> bool:
        minute = kline.open_time_ms // _MINUTE_MS
        bit = 1 << (minute - bar.first_minute)
        if bar.minutes & bit:
            return False
        bar.minutes |= bit
        bar.count += 1
        if minute < bar.open_minute:
            bar.open, bar.open_minute = kline.open, minute
        if minute > bar.close_minute:
            bar.close, bar.close_minute = kline.close, minute
        if exact.greater(kline.high, bar.high):
            bar.high = kline.high
        if exact.greater(bar.low, kline.low):
            bar.low = kline.low
        bar.volume = exact.add(bar.volume, exact.parse(kline.volume))
        bar.turnover = (
            None
            if bar.turnover is None or kline.turnover is None
            else exact.add(bar.turnover, exact.parse(kline.turnover))
        )
        return True

    def close(self, symbol: str, interval_ms: int, start_ms: int, bar: _Bar) -> KlineBar:
        return KlineBar(
            symbol=symbol,
            granularity_min=interval_ms // _MINUTE_MS,
            bar_start_ms=start_ms,
            bar_end_ms=start_ms + interval_ms,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=exact.fixed(bar.volume),
            turnover=None if bar.turnover is None else exact.fixed(bar.turnover),
            candle_count=bar.count,
        )

    def carry(self, symbol: str, interval_ms: int, start_ms: int, previous: _Bar) -> KlineBar:
        return KlineBar(
            symbol=symbol,
            granularity_min=interval_ms // _MINUTE_MS,
            bar_start_ms=start_ms,
            bar_end_ms=start_ms + interval_ms,
            open=previous.close,
            high=previous.close,
            low=previous.close,
            close=previous.close,
            volume="0",
            turnover=None if previous.turnover is None else "0",
            candle_count=0,
        )

    def dump(self, bar: _Bar) -> list[Any]:
        return [
            bar.open,
            bar.open_minute,
            bar.high,
            bar.low,
            bar.close,
            bar.close_minute,
            exact.fixed(bar.volume),
            None if bar.turnover is None else exact.fixed(bar.turnover),
            bar.count,
            bar.first_minute,
            bar.minutes,
        ]

    def load(self, data: list[Any]) -> _Bar:
        open_, open_minute, high, low, close, close_minute, volume, turnover, count, first, minutes = data
        return _Bar(
            open_,
            open_minute,
            high,
            low,
            close,
            close_minute,
            exact.parse(volume),
            None if turnover is None else exact.parse(turnover),
            count,
            first,
            minutes,
        )


class KlineRollupProcessor(WindowedProcessor[Kline, _Bar, KlineBar]):
    """1-minute :class:`~schemas.records.Kline` in, :class:`~schemas.derived.KlineBar` and
    :class:`~schemas.derived.LateEvent` out."""

    def __init__(self, windows: WindowSpec | None = None) -> None:
        spec = kline_windows() if windows is None else windows
        bad = [i for i in spec.intervals_ms if i % _MINUTE_MS or _DAY_MIN % (i // _MINUTE_MS)]
        if bad:
            raise ValueError(f"intervals {bad} ms are not whole minutes dividing one day; use kline_windows()")
        self._engine = WindowEngine(PROCESSOR, spec, _KlineLogic())

    def process(self, record: Kline) -> list[KlineBar | LateEvent]:
        if record.granularity_min != 1:
            return []
        start = record.open_time_ms
        return self._engine.push(
            record.symbol,
            start,
            record,
            covers_to_ms=start + _MINUTE_MS,
            event_ts_ns=start * 1_000_000,
            sequence=None,
            receive_ts_ns=record.receive_ts_ns,
        )
