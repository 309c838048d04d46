"""Mid-price bars from tickerV2 pushes, per symbol and epoch-aligned interval, in exchange time.

Event time is the push's ``exchange_ts_ns`` (floored to ms for windowing; bars are whole milliseconds, so
nothing is lost). Within a bar, open/close are the earliest/latest update by (exchange time, sequence), so a
reordered update inside the grace lands where it belongs.

Hot path: a push is digested once into float keys shared by all intervals. The mid OHLC stays exact: a bar
keeps the exchange's bid/ask text of its open, high, low and close and compares mids by the float key ``bid +
ask``, falling back to exact decimals only when two keys are within float rounding of each other. The exact
mid ``(bid + ask) / 2`` is computed when a bar is emitted, memoised per quote. Spreads (ask - bid, in price
units) are floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from processors.core import exact
from processors.core.windowing import WindowedProcessor, WindowEngine, WindowSpec
from schemas.derived import LateEvent, TickerBar
from schemas.records import TickerV2

__all__ = ["DEFAULT_TICKER_WINDOWS", "PROCESSOR", "TickerBarProcessor"]

PROCESSOR = "ticker_bars"
DEFAULT_TICKER_WINDOWS = WindowSpec(intervals_ms=(1_000, 60_000, 300_000))

# A float key within this relative distance of another may be misordered by rounding: decide exactly.
_NEAR_BELOW = 1.0 - 1e-12
_NEAR_ABOVE = 1.0 + 1e-12

_Sample = tuple[str, str, float, float, int, int]
"""(bid text, ask text, float bid + ask, float ask - bid, exchange ts ns, sequence)."""


@dataclass(slots=True)
class _Bar:
    open_bid: str
    open_ask: str
    open_ts: int
    open_seq: int
    high_bid: str
    high_ask: str
    high_key: float
    low_bid: str
    low_ask: str
    low_key: float
    close_bid: str
    close_ask: str
    close_ts: int
    close_seq: int
    close_spread: float
    spread_sum: float
    spread_max: float
    count: int = field(default=1)


_FIELDS = _Bar.__slots__


class _TickerLogic:
    def __init__(self) -> None:
        self._mids = exact.MidCache()

    def open(self, sample: _Sample, start_ms: int) -> _Bar:
        bid, ask, key, spread, ts, seq = sample
        return _Bar(bid, ask, ts, seq, bid, ask, key, bid, ask, key, bid, ask, ts, seq, spread, spread, spread)

    def add(self, bar: _Bar, sample: _Sample) -> bool:
        bid, ask, key, spread, ts, seq = sample
        bar.count += 1
        bar.spread_sum += spread
        if spread > bar.spread_max:
            bar.spread_max = spread
        if ts > bar.close_ts or (ts == bar.close_ts and seq >= bar.close_seq):
            bar.close_bid, bar.close_ask, bar.close_spread = bid, ask, spread
            bar.close_ts, bar.close_seq = ts, seq
        elif ts < bar.open_ts or (ts == bar.open_ts and seq < bar.open_seq):
            bar.open_bid, bar.open_ask, bar.open_ts, bar.open_seq = bid, ask, ts, seq
        high = bar.high_key
        if key >= high * _NEAR_BELOW and (
            key > high * _NEAR_ABOVE or exact.pair_sum_greater(bid, ask, bar.high_bid, bar.high_ask)
        ):
            bar.high_bid, bar.high_ask, bar.high_key = bid, ask, key
        low = bar.low_key
        if key <= low * _NEAR_ABOVE and (
            key < low * _NEAR_BELOW or exact.pair_sum_greater(bar.low_bid, bar.low_ask, bid, ask)
        ):
            bar.low_bid, bar.low_ask, bar.low_key = bid, ask, key
        return True

    def close(self, symbol: str, interval_ms: int, start_ms: int, bar: _Bar) -> TickerBar:
        mids = self._mids
        return TickerBar(
            symbol=symbol,
            interval_ms=interval_ms,
            bar_start_ms=start_ms,
            bar_end_ms=start_ms + interval_ms,
            open_mid=mids[bar.open_bid, bar.open_ask],
            high_mid=mids[bar.high_bid, bar.high_ask],
            low_mid=mids[bar.low_bid, bar.low_ask],
            close_mid=mids[bar.close_bid, bar.close_ask],
            close_bid_price=bar.close_bid,
            close_ask_price=bar.close_ask,
            spread_mean=bar.spread_sum / bar.count,
            spread_max=bar.spread_max,
            update_count=bar.count,
            first_sequence=bar.open_seq,
            last_sequence=bar.close_seq,
            first_exchange_ts_ns=bar.open_ts,
            last_exchange_ts_ns=bar.close_ts,
        )

    def carry(self, symbol: str, interval_ms: int, start_ms: int, previous: _Bar) -> TickerBar:
        close_mid = self._mids[previous.close_bid, previous.close_ask]
        return TickerBar(
            symbol=symbol,
            interval_ms=interval_ms,
            bar_start_ms=start_ms,
            bar_end_ms=start_ms + interval_ms,
            open_mid=close_mid,
            high_mid=close_mid,
            low_mid=close_mid,
            close_mid=close_mid,
            close_bid_price=previous.close_bid,
            close_ask_price=previous.close_ask,
            spread_mean=previous.close_spread,
            spread_max=previous.close_spread,
            update_count=0,
            first_sequence=previous.close_seq,
            last_sequence=previous.close_seq,
            first_exchange_ts_ns=previous.close_ts,
            last_exchange_ts_ns=previous.close_ts,
        )

    def dump(self, bar: _Bar) -> list[Any]:
        return [getattr(bar, name) for name in _FIELDS]

    def load(self, data: list[Any]) -> _Bar:
        return _Bar(*data)


class TickerBarProcessor(WindowedProcessor[_Sample, _Bar, TickerBar]):
    """tickerV2 pushes in, :class:`~schemas.derived.TickerBar` and :class:`~schemas.derived.LateEvent` out."""

    def __init__(self, windows: WindowSpec = DEFAULT_TICKER_WINDOWS) -> None:
        self._engine = WindowEngine(PROCESSOR, windows, _TickerLogic())

    def process(self, record: TickerV2) -> list[TickerBar | LateEvent]:
        bid = record.best_bid_price
        ask = record.best_ask_price
        bid_f = float(bid)
        ask_f = float(ask)
        ts = record.exchange_ts_ns
        time_ms = ts // 1_000_000
        return self._engine.push(
            record.symbol,
            time_ms,
            (bid, ask, bid_f + ask_f, ask_f - bid_f, ts, record.sequence),
            covers_to_ms=time_ms,
            event_ts_ns=ts,
            sequence=record.sequence,
            receive_ts_ns=record.receive_ts_ns,
        )
