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
- Streams walk time in batches (:meth:`SymbolModel.changes`, :meth:`SymbolModel.tickers`) that hash many steps at
  once (:mod:`~ops.fake_exchange.hashing`); one-off questions (``changed``, ``ticker``) give the same answers.
- Trades are drawn per minute; each takes the best ask (buy) or best bid (sell) of the version in force at its
  instant. Trades do not consume the book (a simplification). Klines are built from these trades only, so
  intervals without trades are missing, and minutes before ``genesis_ms`` have no trades at all.
"""

from __future__ import annotations

import calendar
import functools
import random
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import compress
from typing import NamedTuple

from ops.fake_exchange.contracts import Contract
from ops.fake_exchange.hashing import below, mix64, mix64_many
from ops.fake_exchange.numbers import scaled_decimal

__all__ = [
    "CANDLE_TYPES",
    "FORCED_EVERY",
    "REST_GRANULARITIES",
    "STEP_NS",
    "TOP_LEVELS",
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
_TWO64 = float(1 << 64)
_PATTERN_LEN = 1021
TOP_LEVELS = 3  # the levels of each side whose sizes are redrawn at every version
_DEEP_EPOCH_STEPS = 600  # deeper sizes are redrawn once a minute
_DEEP_CACHE_LIMIT = 8  # consecutive versions mostly share their deep levels: a few entries catch that
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


@functools.cache
def _side_offsets(residue: int, direction: int, count: int) -> tuple[int, ...]:
    """Where the first ``count`` levels of a side starting at a price of this pattern residue are, relative to it:
    0 (the start itself), then the populated ticks of the pattern beyond it in ``direction`` (-1 bids, 1 asks)."""
    offsets = [0]
    offset = 0
    while len(offsets) < count:
        offset += direction
        if _PATTERN[(residue + offset) % _PATTERN_LEN]:
            offsets.append(offset)
    return tuple(offsets)


class _Octave:
    """One octave of value noise: values hashed at grid points ``length`` steps apart, interpolated linearly. It
    keeps the grid interval of the last step asked, as steps mostly come in time order."""

    __slots__ = ("amplitude", "base", "end", "length", "salt", "slope", "start")

    def __init__(self, length: int, amplitude: float, salt: int) -> None:
        self.length = length
        self.amplitude = amplitude
        self.salt = salt
        self.base = -(1 << 62)  # the first step of the kept interval: none yet
        self.start = self.slope = self.end = 0.0

    def move(self, step: int) -> None:
        """Keep the interval of ``step`` (the next interval reuses the value at their common point)."""
        grid = step // self.length
        following = self.length <= step - self.base < 2 * self.length
        start = self.end if following else mix64(self.salt ^ grid) / _TWO64
        self.end = mix64(self.salt ^ (grid + 1)) / _TWO64
        self.start, self.slope, self.base = start, self.end - start, grid * self.length


class SymbolModel:
    """The book and trades of one contract under one seed."""

    __slots__ = (
        "_deep_levels",
        "_deep_sizes",
        "_initial_ticks",
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
            _Octave(length, amplitude * rng.uniform(0.5, 1.5), mix64(self._key ^ _SALT_NOISE ^ length))
            for length, amplitude in ((10, 0.0002), (600, 0.001), (36_000, 0.006), (864_000, 0.03))
        )
        self._rotation = rng.randrange(1 << 20)
        self._top_sizes, self._deep_sizes, self._trade_sizes = _TABLES[rng.choice(_SCALES)]
        self._trade_mean = 1.0 + 12.0 * activity
        self._zero_minute_p = 0.3 * (1.0 - activity)
        self._seq_base = 1_600_000_000_000 + self._key % 100_000_000_000
        self._minute_cache: dict[int, KlineAgg | None] = {}
        self._initial_ticks = contract.initial_ticks
        self._deep_levels: dict[tuple[int, int, int, int], list[tuple[int, int]]] = {}

    # -- versions -------------------------------------------------------------------------------------------------

    def changed(self, step: int) -> bool:
        """Whether the book changes during ``step``."""
        return step % FORCED_EVERY == 0 or mix64(self._key ^ step) < self._threshold

    def changes(self, first: int, stop: int) -> list[int]:
        """The steps of ``range(first, stop)`` at which the book changes (:meth:`changed`, hashed at once)."""
        steps = range(first, stop)
        flags = below(steps, self._key, self._threshold)
        for forced in range(-first % FORCED_EVERY, len(flags), FORCED_EVERY):
            flags[forced] = 1
        return list(compress(steps, flags))

    def event_ns(self, step: int) -> int:
        """The instant inside ``step`` at which its change happens."""
        return _event_ns(step, mix64(self._key ^ _SALT_TIME ^ step))

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
        return self.ticker(version).sequence

    # -- prices ---------------------------------------------------------------------------------------------------

    def mid_ticks(self, step: int) -> float:
        """The fair price at ``step`` in ticks (value noise around the contract's initial price)."""
        total = 0.0
        for octave in self._octaves:
            length = octave.length
            rest = step - octave.base
            if not 0 <= rest < length:
                octave.move(step)
                rest = step - octave.base
            total += octave.amplitude * (2.0 * (octave.start + octave.slope * rest / length) - 1.0)
        return self._initial_ticks * (1.0 + total)

    def best_ticks(self, version: int) -> tuple[int, int]:
        """Best bid and best ask of a version, in ticks."""
        return self._best(version, mix64(self._key ^ _SALT_SPREAD ^ version))

    def _best(self, version: int, spread_hash: int) -> tuple[int, int]:
        """The spread is 2 ticks one time in 8, else 1; the bid sits half a spread under the mid."""
        spread = 2 if spread_hash % 8 == 0 else 1
        bid = max(1, int(self.mid_ticks(version) - spread / 2))
        return bid, bid + spread

    def ticker(self, version: int) -> Ticker:
        """Best bid/ask with sizes of a version."""
        return self.tickers((version,))[0]

    def tickers(self, versions: Sequence[int]) -> list[Ticker]:
        """:meth:`ticker` of each version, hashed at once (far cheaper than one call each)."""
        key = self._key
        top = self._top_sizes
        base = self._seq_base
        best = self._best
        make = Ticker._make
        tickers = []
        for version, spread_hash, bits, seq_hash, time_hash in zip(
            versions,
            mix64_many(versions, key ^ _SALT_SPREAD),
            mix64_many(versions, key ^ _SALT_TOP),
            mix64_many(versions, key ^ _SALT_SEQ),
            mix64_many(versions, key ^ _SALT_TIME),
            strict=True,
        ):
            bid, ask = best(version, spread_hash)
            bid_size, ask_size = top[bits & 1023], top[(bits >> 30) & 1023]
            sequence = base + 4 * version + (seq_hash & 3)
            tickers.append(make((sequence, bid, bid_size, ask, ask_size, _event_ns(version, time_hash))))
        return tickers

    def book(self, version: int, levels: int) -> Book:
        """The top ``levels`` of each side of a version."""
        return self.books((version,), levels)[0]

    def books(self, versions: Sequence[int], levels: int) -> list[Book]:
        """:meth:`book` of each version, hashed at once. The sizes of a side's top levels come from the same hash
        as the ticker's (bids from its low bits, asks from bit 30 on)."""
        side = self._side
        return [
            Book(
                version,
                ticker.sequence,
                side(ticker.bid_ticks, -1, bits, version // _DEEP_EPOCH_STEPS, levels),
                side(ticker.ask_ticks, 1, bits >> 30, version // _DEEP_EPOCH_STEPS, levels),
            )
            for version, ticker, bits in zip(
                versions, self.tickers(versions), mix64_many(versions, self._key ^ _SALT_TOP), strict=True
            )
        ]

    def _side(self, best: int, direction: int, bits: int, epoch: int, levels: int) -> list[tuple[int, int]]:
        """One side: the best price, then the populated ticks of the pattern beyond it (while positive), the
        sizes of the top ones from ``bits``."""
        offsets = _side_offsets((best + self._rotation) % _PATTERN_LEN, direction, min(levels, TOP_LEVELS + 1))
        top = self._top_sizes
        side = [(best + o, top[(bits >> 10 * i) & 1023]) for i, o in enumerate(offsets[:TOP_LEVELS]) if best + o > 0]
        if levels > TOP_LEVELS:
            side += self._deep(best + offsets[TOP_LEVELS], direction, epoch, levels - TOP_LEVELS)
        return side

    def _deep(self, start: int, direction: int, epoch: int, count: int) -> list[tuple[int, int]]:
        """The levels below the top ones: ``count`` populated ticks from ``start`` on (while positive), with sizes
        drawn per price and epoch. Cached, as consecutive versions mostly share them."""
        key = (start, direction, epoch, count)
        deep = self._deep_levels.get(key)
        if deep is None:
            if len(self._deep_levels) > _DEEP_CACHE_LIMIT:
                self._deep_levels.clear()
            rotation = self._rotation
            prices = [start + o for o in _side_offsets((start + rotation) % _PATTERN_LEN, direction, count)]
            sizes = self._deep_sizes
            offset = epoch * 0x85EBCA77 + rotation
            deep = [(price, sizes[(price * 0x9E3779B1 + offset) & 4095]) for price in prices if price > 0]
            self._deep_levels[key] = deep
        return deep

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


def _event_ns(step: int, time_hash: int) -> int:
    return step * STEP_NS + time_hash % STEP_NS


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
