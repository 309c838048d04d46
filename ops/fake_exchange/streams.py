"""The model's push streams as frames, pure: a cursor per subscribed stream turns fake time into frames.

The server's connections and the offline ground truth (:meth:`Market.frames`) use the same cursors, so a frame a
client received can be compared byte for byte with what the model says it should be.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

from ops.fake_exchange.frames import PriceText, candle_frame, depth_frame, depth_levels, ticker_frame
from ops.fake_exchange.model import CANDLE_TYPES, KlineAgg, MarketModel, SymbolModel, interval_bounds
from ops.fake_exchange.session import Subscription

__all__ = ["Cursor", "Feed", "Frame", "Market", "ModelFeed"]

_DEPTH_PERIOD_MS = 100


class Frame(NamedTuple):
    """One data push. ``t_ns`` orders pushes in fake time; ``sequence`` is the book sequence (candles: the
    candle start in ms); ``ts`` the payload's own timestamp (tickerV2 ns, depth ms, candle ``time`` ms)."""

    t_ns: int
    sub: Subscription
    sequence: int
    ts: int
    text: str


class Cursor(Protocol):
    """A stream's position in fake time."""

    def advance(self, until_ns: int) -> list[Frame]:
        """The frames with ``position < t_ns <= until_ns``, in order; moves the position to ``until_ns``."""
        ...


class TickerCursor:
    """tickerV2: one frame per book version whose best bid/ask differs from the previous version's."""

    __slots__ = ("_last", "_model", "_next", "_next_ns", "_price", "_sub")

    def __init__(self, sub: Subscription, model: SymbolModel, price: PriceText, start_ns: int) -> None:
        self._sub = sub
        self._model = model
        self._price = price
        version = model.version_at(start_ns)
        ticker = model.ticker(version)
        self._last = (ticker.bid_ticks, ticker.bid_size, ticker.ask_ticks, ticker.ask_size)
        self._next = model.next_version(version)
        self._next_ns = model.event_ns(self._next)

    def advance(self, until_ns: int) -> list[Frame]:
        frames: list[Frame] = []
        model = self._model
        while self._next_ns <= until_ns:
            ticker = model.ticker(self._next)
            best = (ticker.bid_ticks, ticker.bid_size, ticker.ask_ticks, ticker.ask_size)
            if best != self._last:
                self._last = best
                text = ticker_frame(self._sub.arg, ticker, self._price)
                frames.append(Frame(ticker.ts_ns, self._sub, ticker.sequence, ticker.ts_ns, text))
            self._next = model.next_version(self._next)
            self._next_ns = model.event_ns(self._next)
        return frames


class DepthCursor:
    """level2Depth50/5: the book every 100 ms, resent with the same sequence while it is unchanged."""

    __slots__ = ("_body", "_levels", "_model", "_next_ms", "_price", "_sub", "_topic", "_version")

    def __init__(self, sub: Subscription, model: SymbolModel, price: PriceText, start_ns: int, levels: int) -> None:
        self._sub = sub
        self._topic = sub.topic
        self._model = model
        self._price = price
        self._levels = levels
        self._next_ms = (start_ns // 1_000_000) // _DEPTH_PERIOD_MS * _DEPTH_PERIOD_MS + _DEPTH_PERIOD_MS
        self._version = -1
        self._body = ("", "")

    def advance(self, until_ns: int) -> list[Frame]:
        frames: list[Frame] = []
        model = self._model
        while self._next_ms * 1_000_000 <= until_ns:
            at_ms = self._next_ms
            version = model.version_at(at_ms * 1_000_000)
            if version != self._version:
                self._version = version
                self._body = depth_levels(model.book(version, self._levels), self._price, self._levels)
            sequence = model.sequence(version)
            text = depth_frame(self._topic, sequence, at_ms, *self._body)
            frames.append(Frame(at_ms * 1_000_000, self._sub, sequence, at_ms, text))
            self._next_ms += _DEPTH_PERIOD_MS
        return frames


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
    """The model's frames for a connection's subscriptions, merged in fake-time order."""

    def __init__(self, market: Market, burst_ns: int = 2_000_000_000) -> None:
        self._market = market
        self._burst_ns = burst_ns
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
        return self.due(self._position + self._burst_ns)


def _fake_time(frame: Frame) -> int:
    return frame.t_ns
