"""The model's push streams as frames, pure: a cursor per subscribed stream turns fake time into frames.

The server's connections and the offline ground truth (:meth:`Market.frames`) use the same cursors, so a frame a
client received can be compared byte for byte with what the model says it should be.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import NamedTuple, Protocol

from ops.fake_exchange.frames import PriceText, candle_frame, depth_frame, depth_levels, ticker_frame
from ops.fake_exchange.model import CANDLE_TYPES, STEP_NS, KlineAgg, MarketModel, SymbolModel, interval_bounds
from ops.fake_exchange.session import Subscription

__all__ = ["Cursor", "Feed", "Frame", "Market", "ModelFeed"]

_DEPTH_PERIOD_MS = 100
_FIRST_BURST_NS = 2_000_000_000
_MAX_BURST_NS = 3_600_000_000_000


class Frame(NamedTuple):
    """One data push. ``t_ns`` orders pushes in fake time; ``sequence`` is the book sequence (candles: the
    candle start in ms); ``ts`` the payload's own timestamp (tickerV2 ns, depth ms, candle ``time`` ms)."""

    t_ns: int
    sub: Subscription
    sequence: int
    ts: int
    text: str


_frame = Frame._make  # from a tuple: cheaper than the keyword-aware constructor, once per pushed frame


class Cursor(Protocol):
    """A stream's position in fake time."""

    def advance(self, until_ns: int) -> list[Frame]:
        """The frames with ``position < t_ns <= until_ns``, in order; moves the position to ``until_ns``."""
        ...


class TickerCursor:
    """tickerV2: one frame per book version whose best bid/ask differs from the previous version's."""

    __slots__ = ("_last", "_model", "_next", "_price", "_sub")

    def __init__(self, sub: Subscription, model: SymbolModel, price: PriceText, start_ns: int) -> None:
        self._sub = sub
        self._model = model
        self._price = price
        version = model.version_at(start_ns)
        ticker = model.ticker(version)
        self._last = (ticker.bid_ticks, ticker.bid_size, ticker.ask_ticks, ticker.ask_size)
        self._next = version + 1  # the first step not looked at yet

    def advance(self, until_ns: int) -> list[Frame]:
        stop = until_ns // STEP_NS + 1
        if stop <= self._next:
            return []
        model = self._model
        versions = model.changes(self._next, stop)
        tickers = model.tickers(versions)
        self._next = stop
        if tickers and tickers[-1].ts_ns > until_ns:  # the last step's change comes later in that step
            self._next = versions[-1]
            tickers.pop()
        frames = []
        sub, arg, price, last = self._sub, self._sub.arg, self._price, self._last
        for ticker in tickers:
            best = (ticker.bid_ticks, ticker.bid_size, ticker.ask_ticks, ticker.ask_size)
            if best != last:
                last = best
                ts = ticker.ts_ns
                frames.append(_frame((ts, sub, ticker.sequence, ts, ticker_frame(arg, ticker, price))))
        self._last = last
        return frames


class DepthCursor:
    """level2Depth50/5: the book every 100 ms, resent with the same sequence while it is unchanged.

    A push at a step boundary shows the last version changed before that step, or the step's own version if its
    change falls exactly on the boundary.
    """

    __slots__ = ("_body", "_latest", "_levels", "_model", "_next_step", "_price", "_sub", "_topic", "_version")

    def __init__(self, sub: Subscription, model: SymbolModel, price: PriceText, start_ns: int, levels: int) -> None:
        self._sub = sub
        self._topic = sub.topic
        self._model = model
        self._price = price
        self._levels = levels
        self._next_step = start_ns // 1_000_000 // _DEPTH_PERIOD_MS + 1  # one push per step, at its start
        self._latest = model.version_at(self._next_step * STEP_NS - 1)  # the last change before that step
        self._version = -1
        self._body = (0, "", "")

    def advance(self, until_ns: int) -> list[Frame]:
        first, stop = self._next_step, until_ns // STEP_NS + 1
        if stop <= first:
            return []
        self._next_step = stop
        model = self._model
        shown = []  # the version each push shows
        changes = model.changes(first, stop)
        changes.append(stop)  # a sentinel
        pending = 0
        latest = self._latest
        for step in range(first, stop):
            version = latest
            if changes[pending] == step:
                latest = step
                pending += 1
                if model.event_ns(step) == step * STEP_NS:
                    version = step
            shown.append(version)
        self._latest = latest
        bodies = {self._version: self._body}
        new = [version for version in dict.fromkeys(shown) if version not in bodies]
        for book in model.books(new, self._levels):
            bodies[book.version] = (book.sequence, *depth_levels(book, self._price, self._levels))
        self._version = shown[-1]
        self._body = bodies[self._version]
        sub, topic = self._sub, self._topic
        return [
            _frame((step * STEP_NS, sub, sequence, at_ms, depth_frame(topic, sequence, at_ms, asks, bids)))
            for step, at_ms, (sequence, asks, bids) in zip(
                range(first, stop),
                range(first * _DEPTH_PERIOD_MS, stop * _DEPTH_PERIOD_MS, _DEPTH_PERIOD_MS),
                map(bodies.__getitem__, shown),
                strict=True,
            )
        ]


class CandleCursor:
    """limitCandle: the current candle once per fake second, when it changed since the last push."""

    __slots__ = ("_last", "_market", "_minutes", "_model", "_next_s", "_price", "_sub", "_type")

    def __init__(self, sub: Subscription, model: SymbolModel, price: PriceText, start_ns: int, market: Market) -> None:
        self._sub = sub
        self._model = model
        self._price = price
        self._market = market
        self._type = sub.arg.rpartition("_")[2]
        self._minutes = CANDLE_TYPES[self._type]
        self._next_s = start_ns // 1_000_000_000
        if model.candle_push_ms(self._next_s) * 1_000_000 <= start_ns:
            self._next_s += 1
        self._last: KlineAgg | None = None

    def advance(self, until_ns: int) -> list[Frame]:
        frames: list[Frame] = []
        model = self._model
        while (push_ms := model.candle_push_ms(self._next_s)) * 1_000_000 <= until_ns:
            start, end = interval_bounds(self._minutes, push_ms)
            candle = model.kline(start, end, push_ms)
            if candle is not None and candle != self._last:
                self._last = candle
                text = candle_frame(
                    model.contract, self._type, candle, push_ms, self._price, turnover_first=self._market.turnover_first
                )
                frames.append(Frame(push_ms * 1_000_000, self._sub, start, push_ms, text))
            self._next_s += 1
        return frames


class Market:
    """The model with its spellings: builds stream cursors and computes expected frames offline."""

    def __init__(self, model: MarketModel, *, candle_turnover_first: bool = False) -> None:
        self.model = model
        self.turnover_first = candle_turnover_first
        self._prices: dict[str, PriceText] = {}

    def price_text(self, symbol: str) -> PriceText:
        """The cached price spellings of a listed symbol."""
        price = self._prices.get(symbol)
        if price is None:
            price = self._prices[symbol] = PriceText(self.model.by_symbol[symbol])
        return price

    def cursor(self, sub: Subscription, start_ns: int) -> Cursor | None:
        """A cursor for ``sub`` positioned at ``start_ns``; None for an unlisted symbol (acked, then silent)."""
        symbol = sub.symbol
        if symbol not in self.model.by_symbol:
            return None
        model = self.model.symbol(symbol)
        price = self.price_text(symbol)
        if sub.channel == "tickerV2":
            return TickerCursor(sub, model, price, start_ns)
        if sub.channel == "level2Depth50":
            return DepthCursor(sub, model, price, start_ns, 50)
        if sub.channel == "level2Depth5":
            return DepthCursor(sub, model, price, start_ns, 5)
        if sub.channel == "limitCandle":
            return CandleCursor(sub, model, price, start_ns, self)
        return None

    def frames(self, sub: Subscription, start_ns: int, end_ns: int) -> list[Frame]:
        """The frames the model pushes on ``sub`` with ``start_ns < t_ns <= end_ns`` (offline ground truth)."""
        cursor = self.cursor(sub, start_ns)
        return [] if cursor is None else cursor.advance(end_ns)


class Feed(Protocol):
    """What a connection pushes: frames due by a fake instant, or the next burst in max-rate mode."""

    def sync(self, subs: Iterable[Subscription], now_ns: int) -> None:
        """Follow the connection's current subscriptions (new streams start at ``now_ns``)."""
        ...

    def due(self, now_ns: int) -> list[Frame]:
        """Frames up to ``now_ns``, in fake-time order."""
        ...

    def burst(self) -> list[Frame]:
        """Max-rate mode: the next frames, ignoring the clock (empty when there is nothing to send)."""
        ...


class ModelFeed:
    """The model's frames for a connection's subscriptions, merged in fake-time order.

    Max-rate bursts span as much fake time as gives about ``burst_bytes`` of frames (the span doubles or halves
    after each burst): long enough for the cursors' batched hashing, short enough to keep a burst small.
    """

    def __init__(self, market: Market, burst_bytes: int = 1 << 22) -> None:
        self._market = market
        self._burst_bytes = burst_bytes
        self._burst_ns = _FIRST_BURST_NS
        self._cursors: dict[Subscription, Cursor | None] = {}
        self._position = 0

    def sync(self, subs: Iterable[Subscription], now_ns: int) -> None:
        wanted = dict.fromkeys(subs)
        for sub in list(self._cursors):
            if sub not in wanted:
                del self._cursors[sub]
        if not self._cursors:
            self._position = now_ns
        for sub in wanted:
            if sub not in self._cursors:
                self._cursors[sub] = self._market.cursor(sub, max(now_ns, self._position))

    def due(self, now_ns: int) -> list[Frame]:
        self._position = max(self._position, now_ns)
        frames: list[Frame] = []
        for cursor in self._cursors.values():
            if cursor is not None:
                frames.extend(cursor.advance(now_ns))
        frames.sort(key=_fake_time)
        return frames

    def burst(self) -> list[Frame]:
        if not any(self._cursors.values()):
            return []
        frames = self.due(self._position + self._burst_ns)
        size = len(frames) * len(frames[len(frames) // 2].text) if frames else 0  # a stream's frames are alike
        if size < self._burst_bytes // 2:
            self._burst_ns = min(2 * self._burst_ns, _MAX_BURST_NS)
        elif size > 2 * self._burst_bytes:
            self._burst_ns = max(self._burst_ns // 2, STEP_NS)
        return frames


_fake_time = itemgetter(0)  # Frame.t_ns, as a C-level sort key
