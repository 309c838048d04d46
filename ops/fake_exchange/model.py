"""The fake market: a deterministic, seeded model of every contract's book and trades. Pure: no I/O, no clock.

Everything is a function of ``(seed, symbol, time)``, computed by hashing, so any instant can be asked for in any
order at the same cost and two runs with one seed agree to the byte:

- Time is cut into 100 ms *steps* (``k = t_ns // STEP_NS``). In a step the book either changes once, at a hashed
  instant inside the step (a *version*), or not at all; quiet contracts change in about 1 step of 10, and every
  50th step changes so that finding the version in force at ``t`` (:meth:`SymbolModel.version_at`) is bounded.
- A version's book: the mid follows value noise at four time scales; the best bid/ask sit around it (1 tick apart
  mostly); deeper levels are the populated ticks of a fixed per-contract pattern; the top 3 sizes of each side
  are redrawn at every version, deeper sizes once a minute. Its ``sequence`` grows with the step, with gaps.
- A tickerV2 event is a version whose best bid/ask (price or size) differs from the previous version's.
- Trades are drawn per minute; each takes the best ask (buy) or best bid (sell) of the version in force at its
  instant. Trades do not consume the book (a simplification). Klines are built from these trades only, so
  intervals without trades are missing, and minutes before ``genesis_ms`` have no trades at all.
"""

from __future__ import annotations

import calendar
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from ops.fake_exchange.contracts import Contract
from ops.fake_exchange.numbers import scaled_decimal

__all__ = [
    "CANDLE_TYPES",
    "FORCED_EVERY",
    "REST_GRANULARITIES",
    "STEP_NS",
    "Book",
    "KlineAgg",
    "MarketModel",
    "SymbolModel",
    "Ticker",
    "Trade",
    "interval_bounds",
]

STEP_NS = 100_000_000
FORCED_EVERY = 50
MINUTE_MS = 60_000
_MASK = (1 << 64) - 1
_TWO64 = float(1 << 64)
_PATTERN_LEN = 1021
_WEEK_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday; weekly candles start on Mondays

REST_GRANULARITIES: frozenset[int] = frozenset({1, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 10080})
CANDLE_TYPES: dict[str, int] = {
    "1min": 1,
    "3min": 3,
    "5min": 5,
    "15min": 15,
    "30min": 30,
    "1hour": 60,
    "2hour": 120,
    "4hour": 240,
    "8hour": 480,
    "12hour": 720,
    "1day": 1440,
    "1week": 10080,
    "1month": 0,  # calendar months
}

_SALT_TIME = 0x51ED2701F3A5C3B9
_SALT_SPREAD = 0x2545F4914F6CDD1D
_SALT_TOP = 0x9FB21C651E98DF25
_SALT_SEQ = 0xD6E8FEB86659FD93
_SALT_TRADE = 0xA0761D6478BD642F
_SALT_NOISE = 0xE7037ED1A0B428DB
_SALT_PUSH = 0x8EBC6AF09C88C6E3


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a well-spread 64-bit hash of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def interval_bounds(minutes: int, t_ms: int) -> tuple[int, int]:
    """``[start, end)`` in ms of the candle of ``minutes`` (0 = calendar month) that contains ``t_ms``."""
    if minutes == 0:
        day = datetime.fromtimestamp(t_ms / 1000, UTC)
        start = calendar.timegm((day.year, day.month, 1, 0, 0, 0))
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        return start * 1000, calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
    length = minutes * MINUTE_MS
    offset = _WEEK_OFFSET_MS if minutes == 10080 else 0
    start = (t_ms - offset) // length * length + offset
    return start, start + length


class Ticker(NamedTuple):
    """The best bid and ask of one version. Prices in ticks; ``ts_ns`` is the version's instant."""

    sequence: int
    bid_ticks: int
    bid_size: int
    ask_ticks: int
    ask_size: int
    ts_ns: int


class Book(NamedTuple):
    """The top levels of one version: ``(price ticks, size)`` pairs, bids descending, asks ascending."""

    version: int
    sequence: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


class Trade(NamedTuple):
    """One fill: the taker side, lots, and price in ticks."""

    ts_ns: int
    side: str
    size: int
    price_ticks: int


@dataclass(frozen=True, slots=True)
class KlineAgg:
    """A candle built from trades. Prices in ticks; ``turnover`` in quote currency (coins on inverse)."""

    start_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    turnover: Decimal

    def merge(self, later: KlineAgg) -> KlineAgg:
        """This candle extended by a later one (keeps this start)."""
        return KlineAgg(
            self.start_ms,
            self.open,
            max(self.high, later.high),
            min(self.low, later.low),
            later.close,
            self.volume + later.volume,
            self.turnover + later.turnover,
        )


_SCALES = (3.0, 20.0, 100.0, 600.0)


def _table(rng: random.Random, size: int, scale: float, sigma: float) -> list[int]:
    return [max(1, round(rng.lognormvariate(0.0, sigma) * scale)) for _ in range(size)]


def _shared_tables() -> tuple[bytes, dict[float, tuple[list[int], list[int], list[int]]]]:
    """Book pattern and size tables shared by all contracts (each picks a scale and rotates into them)."""
    rng = random.Random("kucoin-futures-fake-tables")
    pattern = bytes(rng.random() < 0.75 for _ in range(_PATTERN_LEN))
    tables = {
        scale: (_table(rng, 1024, scale, 1.0), _table(rng, 4096, scale * 2, 1.2), _table(rng, 1024, scale / 4, 1.3))
        for scale in _SCALES
    }
    return pattern, tables


_PATTERN, _TABLES = _shared_tables()


class SymbolModel:
    """The book and trades of one contract under one seed."""

    __slots__ = (
        "_deep_sizes",
        "_grids",
        "_key",
        "_minute_cache",
        "_octaves",
        "_rotation",
        "_seq_base",
        "_threshold",
        "_top_sizes",
        "_trade_mean",
        "_trade_sizes",
        "_zero_minute_p",
        "contract",
        "genesis_minute",
    )

    def __init__(self, contract: Contract, seed: int, activity: float, genesis_ms: int) -> None:
        self.contract = contract
        self.genesis_minute = genesis_ms // MINUTE_MS
        self._key = mix64(seed * 0x100000001B3 ^ zlib.crc32(contract.symbol.encode()))
        rng = random.Random(self._key)
        self._threshold = int(activity * _TWO64)
        self._octaves = tuple(
            (length, amplitude * rng.uniform(0.5, 1.5), mix64(self._key ^ _SALT_NOISE ^ length))
            for length, amplitude in ((10, 0.0002), (600, 0.001), (36_000, 0.006), (864_000, 0.03))
        )
        self._rotation = rng.randrange(1 << 20)
        self._top_sizes, self._deep_sizes, self._trade_sizes = _TABLES[rng.choice(_SCALES)]
        self._trade_mean = 1.0 + 12.0 * activity
        self._zero_minute_p = 0.3 * (1.0 - activity)
        self._seq_base = 1_600_000_000_000 + self._key % 100_000_000_000
        self._minute_cache: dict[int, KlineAgg | None] = {}
        self._grids: list[tuple[int, float, float]] = [(-1, 0.0, 0.0)] * len(self._octaves)

    # -- versions -------------------------------------------------------------------------------------------------

    def changed(self, step: int) -> bool:
        """Whether the book changes during ``step``."""
        return step % FORCED_EVERY == 0 or mix64(self._key ^ step) < self._threshold

    def event_ns(self, step: int) -> int:
        """The instant inside ``step`` at which its change happens."""
        return step * STEP_NS + mix64(self._key ^ _SALT_TIME ^ step) % STEP_NS

    def version_at(self, t_ns: int) -> int:
        """The step of the last book change at or before ``t_ns``."""
        step = t_ns // STEP_NS
        if self.changed(step) and self.event_ns(step) <= t_ns:
            return step
        step -= 1
        while not self.changed(step):
            step -= 1
        return step

    def next_version(self, step: int) -> int:
        """The first step after ``step`` at which the book changes."""
        step += 1
        while not self.changed(step):
            step += 1
        return step

    def sequence(self, version: int) -> int:
        """The book sequence of a version: increasing with the step, not contiguous."""
        return self._seq_base + 4 * version + (mix64(self._key ^ _SALT_SEQ ^ version) & 3)

    # -- prices ---------------------------------------------------------------------------------------------------

    def mid_ticks(self, step: int) -> float:
        """The fair price at ``step`` in ticks (value noise around the contract's initial price)."""
        total = 0.0
        grids = self._grids
        for octave, (length, amplitude, salt) in enumerate(self._octaves):
            grid, rest = divmod(step, length)
            cached = grids[octave]
            if cached[0] == grid:
                v0, v1 = cached[1], cached[2]
            else:
                v0 = mix64(salt ^ grid) / _TWO64
                v1 = mix64(salt ^ (grid + 1)) / _TWO64
                grids[octave] = (grid, v0, v1)
            total += amplitude * (2.0 * (v0 + (v1 - v0) * rest / length) - 1.0)
        return self.contract.initial_ticks * (1.0 + total)

    def best_ticks(self, version: int) -> tuple[int, int]:
        """Best bid and best ask of a version, in ticks."""
        spread = 2 if mix64(self._key ^ _SALT_SPREAD ^ version) % 8 == 0 else 1
        bid = max(1, int(self.mid_ticks(version) - spread / 2))
        return bid, bid + spread

    def ticker(self, version: int) -> Ticker:
        """Best bid/ask with sizes of a version."""
        bid, ask = self.best_ticks(version)
        bits = mix64(self._key ^ _SALT_TOP ^ version)
        return Ticker(
            self.sequence(version),
            bid,
            self._top_sizes[bits & 1023],
            ask,
            self._top_sizes[(bits >> 30) & 1023],
            self.event_ns(version),
        )

    def book(self, version: int, levels: int) -> Book:
        """The top ``levels`` of each side of a version."""
        bid, ask = self.best_ticks(version)
        bits = mix64(self._key ^ _SALT_TOP ^ version)
        top = self._top_sizes
        deep = self._deep_sizes
        epoch = version // 600 * 0x85EBCA77
        pattern = _PATTERN
        rotation = self._rotation
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        for side, start, direction, shift in ((bids, bid, -1, 0), (asks, ask, 1, 30)):
            price = start
            while len(side) < levels and price > 0:
                if price == start or pattern[(price + rotation) % _PATTERN_LEN]:
                    index = len(side)
                    if index < 3:
                        size = top[(bits >> (shift + 10 * index)) & 1023]
                    else:
                        size = deep[(price * 0x9E3779B1 + epoch + rotation) & 4095]
                    side.append((price, size))
                price += direction
        return Book(version, self.sequence(version), bids, asks)

    def candle_push_ms(self, second: int) -> int:
        """When, inside fake second ``second``, this contract's candle pushes go out (at most one per second)."""
        return second * 1000 + mix64(self._key ^ _SALT_PUSH ^ second) % 1000

    # -- trades and klines ----------------------------------------------------------------------------------------

    def minute_trades(self, minute: int) -> list[Trade]:
        """The trades of one minute (``t_ms // 60000``), in time order."""
        if minute < self.genesis_minute:
            return []
        rng = random.Random(mix64(self._key ^ _SALT_TRADE ^ minute))
        if rng.random() < self._zero_minute_p:
            return []
        count = 1 + int(rng.expovariate(1.0 / self._trade_mean))
        base = minute * MINUTE_MS * 1_000_000
        instants = sorted(base + rng.randrange(MINUTE_MS * 1_000_000) for _ in range(count))
        trades = []
        for t_ns in instants:
            buy = rng.random() < 0.5
            bid, ask = self.best_ticks(self.version_at(t_ns))
            size = self._trade_sizes[rng.randrange(1024)]
            trades.append(Trade(t_ns, "buy" if buy else "sell", size, ask if buy else bid))
        return trades

    def trades(self, start_ns: int, end_ns: int) -> Iterator[Trade]:
        """Trades with ``start_ns <= ts_ns < end_ns``."""
        per_minute = MINUTE_MS * 1_000_000
        for minute in range(start_ns // per_minute, (end_ns - 1) // per_minute + 1):
            for trade in self.minute_trades(minute):
                if start_ns <= trade.ts_ns < end_ns:
                    yield trade

    def _turnover(self, trade: Trade) -> Decimal:
        contract = self.contract
        price = scaled_decimal(trade.price_ticks * contract.tick_units, contract.price_decimals)
        if contract.is_inverse:
            return (Decimal(trade.size) / price).quantize(Decimal("1E-10"))
        return trade.size * contract.multiplier * price

    def _aggregate(self, start_ms: int, trades: list[Trade]) -> KlineAgg | None:
        if not trades:
            return None
        prices = [t.price_ticks for t in trades]
        return KlineAgg(
            start_ms,
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            sum(t.size for t in trades),
            sum((self._turnover(t) for t in trades), Decimal(0)),
        )

    def _minute(self, minute: int) -> KlineAgg | None:
        if minute not in self._minute_cache:
            if len(self._minute_cache) > 200_000:
                self._minute_cache.clear()
            self._minute_cache[minute] = self._aggregate(minute * MINUTE_MS, self.minute_trades(minute))
        return self._minute_cache[minute]

    def kline(self, start_ms: int, end_ms: int, now_ms: int) -> KlineAgg | None:
        """The candle of ``[start_ms, end_ms)`` from the trades up to and including ``now_ms``; None if none."""
        first = max(start_ms // MINUTE_MS, self.genesis_minute)
        last_full = min(end_ms, now_ms + 1) // MINUTE_MS  # minutes before this one are complete
        result: KlineAgg | None = None
        for minute in range(first, last_full):
            agg = self._minute(minute)
            if agg is not None:
                result = agg if result is None else result.merge(agg)
        if last_full * MINUTE_MS < min(end_ms, now_ms + 1):
            cut = (now_ms + 1) * 1_000_000
            partial = [t for t in self.minute_trades(last_full) if t.ts_ns < cut]
            agg = self._aggregate(last_full * MINUTE_MS, partial)
            if agg is not None:
                result = agg if result is None else result.merge(agg)
        if result is None:
            return None
        return KlineAgg(start_ms, result.open, result.high, result.low, result.close, result.volume, result.turnover)

    def klines(self, minutes: int, from_ms: int | None, to_ms: int | None, now_ms: int, limit: int) -> list[KlineAgg]:
        """Candles as ``GET /api/v1/kline/query`` pages them: at most ``limit`` rows, empty intervals missing.

        ``from`` only: the first ``limit`` candles starting at or after ``from``, up to now. ``to`` only (or
        neither, with ``to`` = now): the ``limit`` candles closest before ``to``. Both: the first ``limit`` in
        ``[from, to]``. Rows are in ascending time.
        """
        end_ms = now_ms if to_ms is None else min(to_ms, now_ms)
        genesis_ms = self.genesis_minute * MINUTE_MS
        rows: list[KlineAgg] = []
        if from_ms is None:
            start, _ = interval_bounds(minutes, end_ms)
            while len(rows) < limit and start + _interval_length(minutes, start) > genesis_ms:
                agg = self.kline(start, start + _interval_length(minutes, start), now_ms)
                if agg is not None:
                    rows.append(agg)
                start = interval_bounds(minutes, start - 1)[0]
            rows.reverse()
            return rows
        start, stop = interval_bounds(minutes, max(from_ms, genesis_ms))
        if start < from_ms:
            start = stop
        while len(rows) < limit and start <= end_ms:
            stop = start + _interval_length(minutes, start)
            agg = self.kline(start, stop, now_ms)
            if agg is not None:
                rows.append(agg)
            start = stop
        return rows


def _interval_length(minutes: int, start_ms: int) -> int:
    bounds = interval_bounds(minutes, start_ms)
    return bounds[1] - bounds[0]


class MarketModel:
    """All contracts under one seed; symbol models are built on first use."""

    def __init__(self, contracts: tuple[Contract, ...], seed: int, genesis_ms: int) -> None:
        self.contracts = contracts
        self.seed = seed
        self.genesis_ms = genesis_ms
        self.by_symbol = {c.symbol: c for c in contracts}
        self._index = {c.symbol: i for i, c in enumerate(contracts)}
        self._models: dict[str, SymbolModel] = {}

    def symbol(self, symbol: str) -> SymbolModel:
        """The model of one contract (``KeyError`` if the symbol is not listed)."""
        model = self._models.get(symbol)
        if model is None:
            index = self._index[symbol]
            u = mix64(self.seed ^ zlib.crc32(symbol.encode()) ^ 0x1234567) / _TWO64
            activity = (0.9, 0.8, 0.6)[index] if index < 3 else 0.05 + 0.45 * u * u
            model = SymbolModel(self.contracts[index], self.seed, activity, self.genesis_ms)
            self._models[symbol] = model
        return model
