"""Order-book imbalance from level2Depth50 snapshots: per snapshot, and per-interval statistics.

Per snapshot, for each depth d (default 1, 5, 10, 20, 50; clipped to the levels present):

- size imbalance ``(B - A) / (B + A)`` of the summed sizes (contracts) of the best d bids and asks;
- notional imbalance, the same ratio on summed value in the contract's settlement currency: ``price * size``
  for linear contracts (the multiplier is the same on both sides and cancels), ``size / price`` for inverse
  contracts (one contract is one USD, so its value in coin is size / price; ``price * size`` would mean
  nothing there and the size imbalance already is the USD-value imbalance). The core cannot tell the kind
  from a Depth50 record, so the caller names the inverse symbols (``isInverse`` of
  ``/api/v1/contracts/active``). Levels priced 0 add no value.

plus the exact mid (decimal text), the level-1 microprice and the spread in basis points of the mid (floats).

KuCoin resends an unchanged book every 100 ms with the same sequence. A resend yields no new per-snapshot
record (it is the same snapshot) but counts as a sample of the interval statistics, so their means
approximate time-weighted means; its metrics are reused from the previous push, not recomputed. That reuse
assumes, as the protocol states, that equal sequence means an identical book. Statistics skip values that are
undefined (a ratio over an empty book).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import mul
from typing import Any, cast

from processors.core import exact
from processors.core.windowing import WindowedProcessor, WindowEngine, WindowSpec
from schemas.derived import (
    DepthImbalance,
    DepthImbalanceStats,
    Imbalance,
    ImbalanceBar,
    LateEvent,
    Stats,
)
from schemas.fast_construct import builder
from schemas.records import Depth50

__all__ = ["DEFAULT_DEPTHS", "DEFAULT_IMBALANCE_WINDOWS", "PROCESSOR", "ImbalanceProcessor"]

PROCESSOR = "imbalance"
DEFAULT_DEPTHS = (1, 5, 10, 20, 50)
DEFAULT_IMBALANCE_WINDOWS = WindowSpec(intervals_ms=(1_000, 60_000))

_FLOAT_CACHE_LIMIT = 100_000
_LADDER_CACHE_LIMIT = 4_096

_Values = tuple[float | None, ...]
"""spread bps, then (size imbalance, notional imbalance) per depth."""
_Sample = tuple[_Values, int, int, bool]
"""(values, exchange ts ms, sequence, whether every value is defined)."""

_new_imbalance = builder(Imbalance)
_new_depth_imbalance = builder(DepthImbalance)
_new_bar = builder(ImbalanceBar)
_new_depth_stats = builder(DepthImbalanceStats)
_new_stats = builder(Stats)


@dataclass(slots=True)
class _Bar:
    """A bar's statistics, one column per value (as in :data:`_Values`); min, max and last are None until the value
    is defined, its sum 0.0. The serialised form (:meth:`_ImbalanceLogic.dump`) is a ``[count, sum, min, max,
    last]`` array per value."""

    count: int
    open_ts: int
    open_seq: int
    close_ts: int
    close_seq: int
    sums: list[float]
    mins: list[float | None]
    maxs: list[float | None]
    lasts: _Values
    skipped: list[int]
    """Samples where the value was undefined: its count is ``count`` minus this."""
    defined: bool
    """Every value has had a defined sample (no None among the mins)."""
    columns: tuple[tuple[Any, ...], ...] | None = field(default=None, compare=False, repr=False)
    """The serialised columns (immutable) until :meth:`_ImbalanceLogic.add` changes the bar: bars waiting out their
    grace (two of a symbol's three 1 s bars) are dumped unchanged at every checkpoint."""


class _ImbalanceLogic:
    def __init__(self, depths: tuple[int, ...]) -> None:
        self._depths = depths

    def open(self, sample: _Sample, start_ms: int) -> _Bar:
        values, ts, seq, complete = sample
        return _Bar(
            1,
            ts,
            seq,
            ts,
            seq,
            [0.0 if v is None else v for v in values],
            list(values),
            list(values),
            values,
            [1 if v is None else 0 for v in values],
            complete,
        )

    def add(self, bar: _Bar, sample: _Sample) -> bool:
        values, ts, seq, complete = sample
        bar.columns = None
        bar.count += 1
        if ts > bar.close_ts or (ts == bar.close_ts and seq >= bar.close_seq):
            bar.close_ts, bar.close_seq = ts, seq
            bar.lasts = values
        elif ts < bar.open_ts or (ts == bar.open_ts and seq < bar.open_seq):
            bar.open_ts, bar.open_seq = ts, seq
        sums, mins, maxs = bar.sums, bar.mins, bar.maxs
        if complete and bar.defined:  # the usual case, with as little work per value as can be
            lows, highs = cast("list[float]", mins), cast("list[float]", maxs)
            for i, number in enumerate(cast("tuple[float, ...]", values)):
                sums[i] += number
                if number < lows[i]:
                    lows[i] = number
                elif number > highs[i]:
                    highs[i] = number
            return True
        skipped = bar.skipped
        for i, value in enumerate(values):
            low, high = mins[i], maxs[i]
            if value is None:
                skipped[i] += 1
            elif low is None or high is None:
                sums[i] = mins[i] = maxs[i] = value
            else:
                sums[i] += value
                if value < low:
                    mins[i] = value
                elif value > high:
                    maxs[i] = value
        bar.defined = None not in mins
        return True

    def close(self, symbol: str, interval_ms: int, start_ms: int, bar: _Bar) -> ImbalanceBar:
        stats = [
            _new_stats(n, total / n if n else None, last, low, high) for n, total, low, high, last in self._columns(bar)
        ]
        return self._bar(symbol, interval_ms, start_ms, bar.count, bar.open_seq, bar.close_seq, stats)

    def carry(self, symbol: str, interval_ms: int, start_ms: int, previous: _Bar) -> ImbalanceBar:
        stats = [_new_stats(0, last, last, last, last) for last in previous.lasts]
        seq = previous.close_seq
        return self._bar(symbol, interval_ms, start_ms, 0, seq, seq, stats)

    def _bar(
        self,
        symbol: str,
        interval_ms: int,
        start_ms: int,
        count: int,
        first_seq: int,
        last_seq: int,
        stats: list[Stats],
    ) -> ImbalanceBar:
        return _new_bar(
            symbol,
            interval_ms,
            start_ms,
            start_ms + interval_ms,
            count,
            first_seq,
            last_seq,
            stats[0],
            tuple(_new_depth_stats(depth, stats[1 + 2 * i], stats[2 + 2 * i]) for i, depth in enumerate(self._depths)),
        )

    @staticmethod
    def _columns(bar: _Bar) -> Iterable[tuple[int, float, float | None, float | None, float | None]]:
        """Per value: count, sum, min, max, last."""
        counts = map(bar.count.__sub__, bar.skipped)
        return zip(counts, bar.sums, bar.mins, bar.maxs, bar.lasts, strict=True)

    def dump(self, bar: _Bar) -> list[Any]:
        stats = bar.columns
        if stats is None:
            stats = bar.columns = tuple(self._columns(bar))
        return [bar.count, bar.open_ts, bar.open_seq, bar.close_ts, bar.close_seq, stats]

    def load(self, data: list[Any]) -> _Bar:
        count, open_ts, open_seq, close_ts, close_seq, stats = data
        counts, sums, mins, maxs, lasts = (list(column) for column in zip(*stats, strict=True))
        skipped = [count - n for n in counts]
        defined = None not in mins
        return _Bar(count, open_ts, open_seq, close_ts, close_seq, sums, mins, maxs, tuple(lasts), skipped, defined)


class ImbalanceProcessor(WindowedProcessor[_Sample, _Bar, ImbalanceBar]):
    """Depth50 pushes in; :class:`~schemas.derived.Imbalance` (first, when the book sequence changed), then
    :class:`~schemas.derived.ImbalanceBar` and :class:`~schemas.derived.LateEvent` out."""

    def __init__(
        self,
        windows: WindowSpec = DEFAULT_IMBALANCE_WINDOWS,
        *,
        depths: Sequence[int] = DEFAULT_DEPTHS,
        inverse_symbols: Iterable[str] = (),
    ) -> None:
        ordered = tuple(sorted(set(depths)))
        if not ordered or ordered[0] < 1:
            raise ValueError(f"depths must be positive: {depths}")
        self._depths = ordered
        self._max_depth = ordered[-1]
        self._inverse = frozenset(inverse_symbols)
        self._engine = WindowEngine(PROCESSOR, windows, _ImbalanceLogic(ordered))
        self._floats = _FloatCache()
        self._ladders = _LadderCache(self._floats)
        self._mids = exact.MidCache()
        self._cut_cache: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        self._last: dict[str, tuple[int, _Values, bool]] = {}
        """Per symbol, the values of the last computed sequence and whether all are defined: a cache, not state."""

    def process(self, record: Depth50) -> list[Imbalance | ImbalanceBar | LateEvent]:
        symbol = record.symbol
        sequence = record.sequence
        snapshot: Imbalance | None = None
        cached = self._last.get(symbol)
        if cached is not None and cached[0] == sequence:
            _, values, complete = cached
        else:
            snapshot, values = self._snapshot(record)
            complete = None not in values
            self._last[symbol] = (sequence, values, complete)
        if sequence == self._engine.last_sequence(symbol):
            snapshot = None
        ts = record.exchange_ts_ms
        out: list[Imbalance | ImbalanceBar | LateEvent] = [] if snapshot is None else [snapshot]
        out += self._engine.push(
            symbol,
            ts,
            (values, ts, sequence, complete),
            covers_to_ms=ts,
            event_ts_ns=ts * 1_000_000,
            sequence=sequence,
            receive_ts_ns=record.receive_ts_ns,
        )
        return out

    def _snapshot(self, record: Depth50) -> tuple[Imbalance, _Values]:
        """The snapshot record and its values for the bar statistics."""
        parse = self._floats
        if len(parse) > _FLOAT_CACHE_LIMIT:
            parse.clear()
        number = parse.__getitem__
        top = self._max_depth
        bid_prices, bid_sizes = record.bid_prices[:top], record.bid_sizes[:top]
        ask_prices, ask_sizes = record.ask_prices[:top], record.ask_sizes[:top]
        bid_px, ask_px = self._ladders[bid_prices], self._ladders[ask_prices]
        bid_sz, ask_sz = list(map(number, bid_sizes)), list(map(number, ask_sizes))
        value = _coin_value if record.symbol in self._inverse else mul
        # Running sums from level 1 on (0.0 first: the sum of no level), so the sum over the best d levels is one
        # index away; summed left to right, as the definition reads.
        size_b, size_a = list(accumulate(bid_sz, initial=0.0)), list(accumulate(ask_sz, initial=0.0))
        value_b = list(accumulate(map(value, bid_px, bid_sz), initial=0.0))
        value_a = list(accumulate(map(value, ask_px, ask_sz), initial=0.0))
        n_bid, n_ask = len(bid_px), len(ask_px)
        mid = microprice = spread_bps = None
        if n_bid and n_ask:
            bid, ask = bid_px[0], ask_px[0]
            mid = self._mids[bid_prices[0], ask_prices[0]]
            half_sum = (bid + ask) / 2.0
            spread_bps = (ask - bid) / half_sum * 10_000.0 if half_sum else None
            sizes = bid_sz[0] + ask_sz[0]
            microprice = (bid * ask_sz[0] + ask * bid_sz[0]) / sizes if sizes else None
        depths: list[DepthImbalance] = []
        values: list[float | None] = [spread_bps]
        for depth, b, a in self._cuts(n_bid, n_ask):
            bid_total, ask_total = size_b[b], size_a[a]
            total = bid_total + ask_total
            size_imbalance = (bid_total - ask_total) / total if total > 0.0 else None
            bid_total, ask_total = value_b[b], value_a[a]
            total = bid_total + ask_total
            notional_imbalance = (bid_total - ask_total) / total if total > 0.0 else None
            depths.append(_new_depth_imbalance(depth, size_imbalance, notional_imbalance))
            values += (size_imbalance, notional_imbalance)
        snapshot = _new_imbalance(
            record.symbol,
            record.sequence,
            record.exchange_ts_ms,
            bid_prices[0] if n_bid else None,
            ask_prices[0] if n_ask else None,
            mid,
            microprice,
            spread_bps,
            tuple(depths),
        )
        return snapshot, tuple(values)

    def _cuts(self, n_bid: int, n_ask: int) -> list[tuple[int, int, int]]:
        """Per depth, (depth, bid levels, ask levels) summed: the depth clipped to the levels present."""
        cuts = self._cut_cache.get((n_bid, n_ask))
        if cuts is None:
            cuts = self._cut_cache[n_bid, n_ask] = [(d, min(d, n_bid), min(d, n_ask)) for d in self._depths]
        return cuts


def _coin_value(price: float, size: float) -> float:
    """Value in coin of ``size`` contracts of an inverse contract (one USD each); nothing at price 0."""
    return size / price if price else 0.0


class _FloatCache(dict[str, float]):
    """Exchange text to float, memoised: book prices and sizes repeat from one snapshot to the next, and
    parsing is most of the cost of a snapshot. Only a speed-up: results are those of ``float(text)``."""

    def __missing__(self, text: str) -> float:
        value = self[text] = float(text)
        return value


class _LadderCache(dict[tuple[str, ...], tuple[float, ...]]):
    """The prices of a book side (a tuple of exchange text) to their floats, memoised: a side's price ladder moves
    only with its best price, while its sizes change all the time, so most books of a symbol reuse a ladder seen
    shortly before (one look-up of the tuple instead of one per level). Bounded by clearing when full."""

    def __init__(self, floats: _FloatCache) -> None:
        super().__init__()
        self._number = floats.__getitem__

    def __missing__(self, prices: tuple[str, ...]) -> tuple[float, ...]:
        if len(self) >= _LADDER_CACHE_LIMIT:
            self.clear()
        floats = self[prices] = tuple(map(self._number, prices))
        return floats
