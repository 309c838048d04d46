"""Parse one KuCoin Futures WebSocket text frame into one typed event.

Bytes or text in, one event out, never an exception: anything unparseable or schema-invalid becomes
:class:`Malformed`, so a single bad frame cannot stop a connection. Exchange decimals keep their exact wire
text (see :mod:`.lossless`); market data becomes the records of :mod:`schemas.records`.

This runs for every frame (tens of thousands per second per core), hence orjson, the C-level ``map``/``zip`` calls
and the per-parser cache of validated book prices: the book is resent every 100 ms, so almost every price was seen
in the previous frame, and a dictionary hit is several times cheaper than validating its decimal again. A side whose
prices are all cached text and whose sizes are all non-negative integers (the wire format) takes that fast path;
anything else is checked level by level, with the same verdicts.

orjson turns fractional numbers (and integers beyond 64 bits) into binary floats, which would lose the exact text.
Every number of a market-data event passes an integer or decimal-text check that refuses floats, so a market-data
event from orjson's tree is exactly the lossless parse's; any other outcome (a control frame, a malformed one, a
2021-era float price) is parsed again with the lossless decoder, and that result stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from operator import gt, lt
from typing import Any

import orjson

from schemas.records import Depth50, Kline, TickerV2

from .lossless import decimal_text, loads
from .topics import TOPIC_PREFIX, Stream

__all__ = [
    "Ack",
    "Book",
    "Candle",
    "ErrorFrame",
    "Event",
    "FrameParser",
    "Malformed",
    "Pong",
    "Unknown",
    "Welcome",
    "parse_frame",
]

DEFAULT_LEVEL_CACHE_SIZE = 65_536
_TICKER_CHANNEL = TOPIC_PREFIX + Stream.TICKER_V2.value
_CANDLE_CHANNEL = TOPIC_PREFIX + "limitCandle"
_BOOK_CHANNELS = {TOPIC_PREFIX + Stream.DEPTH50.value: 50, TOPIC_PREFIX + Stream.DEPTH5.value: 5}
_CANDLE_MINUTES = {
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
}

_LevelEntry = tuple[str, str, float]
"""A validated level: price text, size text, and the price as a float for the ordering checks only."""
_INTEGERS = frozenset({int})
_Side = tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]
_INVALID = (TypeError, ValueError, IndexError, AttributeError, RecursionError)
"""What a frame breaking the schema raises (with ``KeyError``): it becomes :class:`Malformed`."""


@dataclass(frozen=True, slots=True)
class Welcome:
    """The server is ready; subscribing before this frame is not allowed."""

    id: str


@dataclass(frozen=True, slots=True)
class Ack:
    """A subscribe or unsubscribe with ``response: true`` was accepted (unknown symbols are acked too)."""

    id: str


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to a client ping; 2021-era servers sent no timestamp."""

    id: str
    timestamp_us: int | None


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """``type: error``; ``id`` is the request id or connectId, absent on ``ping timeout``."""

    id: str | None
    code: int
    data: str


@dataclass(frozen=True, slots=True)
class Book:
    """A level2Depth50 or level2Depth5 snapshot; ``depth`` says which (both fit the Depth50 record)."""

    record: Depth50
    depth: int


@dataclass(frozen=True, slots=True)
class Candle:
    """A limitCandle push: the candle so far (not necessarily closed) and the push time in ms."""

    kline: Kline
    time_ms: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A well-formed frame the producers do not consume (notice, command, other topics): ignore it."""

    type: str | None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Malformed:
    """A frame that is not JSON or breaks the protocol's schema; ``raw`` is the frame as received."""

    reason: str
    raw: bytes | bytearray | memoryview | str


Event = Welcome | Ack | Pong | ErrorFrame | TickerV2 | Book | Candle | Unknown | Malformed


class _Invalid(ValueError):
    """A schema violation found by an explicit check."""


class FrameParser:
    """Frame parser with a bounded cache of validated book prices; share one per process or per connection."""

    def __init__(self, *, level_cache_size: int = DEFAULT_LEVEL_CACHE_SIZE) -> None:
        self._levels: dict[str, float] = {}  # validated price text -> its float, for the ordering checks
        self._sizes: dict[int, str] = {}  # size in lots -> its text (str() of an int is slower than a hit)
        self._level_cache_size = level_cache_size

    def parse(self, frame: bytes | bytearray | memoryview | str, receive_ts_ns: int) -> Event:
        """Turn one frame into one event; ``receive_ts_ns`` stamps market-data records."""
        try:
            event = self._event(orjson.loads(frame), receive_ts_ns)
            if type(event) is Book or type(event) is TickerV2 or type(event) is Candle:
                return event
        except (KeyError, *_INVALID):
            pass
        try:
            return self._event(loads(frame), receive_ts_ns)
        except KeyError as exc:
            return Malformed(f"missing field {exc}", frame)
        except _INVALID as exc:
            return Malformed(str(exc) or type(exc).__name__, frame)

    def _event(self, msg: Any, receive_ts_ns: int) -> Event:
        if type(msg) is not dict:
            raise _Invalid("frame is not a JSON object")
        kind = msg.get("type")
        if kind == "message":
            topic: str = msg["topic"]
            channel, _, symbol = topic.partition(":")
            depth = _BOOK_CHANNELS.get(channel)
            if depth is None and channel != _TICKER_CHANNEL and channel != _CANDLE_CHANNEL:
                return Unknown(kind, topic)
            if not symbol or "," in symbol:
                raise _Invalid(f"push topic without one symbol: {topic!r}")
            if depth is not None:
                return self._book(symbol, depth, msg["data"], receive_ts_ns)
            if channel == _TICKER_CHANNEL:
                return _ticker(symbol, msg["data"], receive_ts_ns)
            return _candle(symbol, msg["data"], receive_ts_ns)
        if kind == "welcome":
            return Welcome(_text_id(msg["id"]))
        if kind == "ack":
            return Ack(_text_id(msg["id"]))
        if kind == "pong":
            timestamp = msg.get("timestamp")
            return Pong(_text_id(msg["id"]), None if timestamp is None else _int(timestamp))
        if kind == "error":
            request_id = msg.get("id")
            data = msg.get("data", "")
            return ErrorFrame(
                None if request_id is None else _text_id(request_id),
                _int(msg["code"]),
                data if type(data) is str else str(data),
            )
        other = msg.get("topic")
        if kind is None and other is None:
            raise _Invalid("frame has neither type nor topic")
        return Unknown(
            kind if kind is None or type(kind) is str else str(kind),
            other if other is None or type(other) is str else str(other),
        )

    def _book(self, symbol: str, depth: int, data: Any, receive_ts_ns: int) -> Book:
        bid_prices, bid_sizes, bid_values = self._side(data["bids"], depth)
        ask_prices, ask_sizes, ask_values = self._side(data["asks"], depth)
        if not all(map(gt, bid_values, islice(bid_values, 1, None))):
            raise _Invalid("bids are not strictly descending")
        if not all(map(lt, ask_values, islice(ask_values, 1, None))):
            raise _Invalid("asks are not strictly ascending")
        if bid_values and ask_values and bid_values[0] >= ask_values[0]:
            raise _Invalid("crossed book: best bid >= best ask")
        ts = data.get("ts")
        exchange_ts_ms = _epoch_ns(_int(data["timestamp"] if ts is None else ts)) // 1_000_000
        record = Depth50(
            symbol,
            _int(data["sequence"]),
            bid_prices,
            bid_sizes,
            ask_prices,
            ask_sizes,
            exchange_ts_ms,
            receive_ts_ns,
        )
        return Book(record, depth)

    def _side(self, levels: Any, depth: int) -> _Side:
        if type(levels) is not list:
            raise _Invalid("book side is not a list")
        if len(levels) > depth:
            raise _Invalid(f"{len(levels)} levels on a depth-{depth} side")
        if not levels:
            return (), (), ()
        try:
            prices, sizes = zip(*levels, strict=True)
        except (TypeError, ValueError):
            return self._checked_side(levels)
        # Only str keys are cached, so a JSON true/false (equal to 1/0) or a number never hits.
        try:
            values = tuple(map(self._levels.__getitem__, prices))
        except KeyError:
            return self._checked_side(levels)
        if set(map(type, sizes)) != _INTEGERS:
            return self._checked_side(levels)
        try:
            texts = tuple(map(self._sizes.__getitem__, sizes))  # only non-negative ints are cached
        except KeyError:
            if min(sizes) < 0:
                return self._checked_side(levels)
            texts = tuple(map(str, sizes))
            self._remember(self._sizes, sizes, texts)
        return prices, texts, values

    def _checked_side(self, levels: list[Any]) -> _Side:
        """Validate level by level (the exact error for a bad one), and cache the prices."""
        entries = [_level(tuple(level)) for level in levels]
        prices, sizes, values = zip(*entries, strict=True)
        self._remember(self._levels, prices, values)
        return prices, sizes, values

    def _remember(self, cache: dict[Any, Any], keys: tuple[Any, ...], values: tuple[Any, ...]) -> None:
        if len(cache) + len(keys) > self._level_cache_size:
            cache.clear()
        cache.update(zip(keys, values, strict=True))


_DEFAULT_PARSER = FrameParser()


def parse_frame(frame: bytes | bytearray | memoryview | str, receive_ts_ns: int) -> Event:
    """Parse with a process-wide :class:`FrameParser` (its cache only speeds up, never changes, results)."""
    return _DEFAULT_PARSER.parse(frame, receive_ts_ns)


def _level(key: tuple[Any, ...]) -> _LevelEntry:
    if len(key) != 2:
        raise _Invalid(f"book level is not [price, size]: {list(key)!r}")
    price = decimal_text(key[0])
    return price, decimal_text(key[1]), float(price)


def _ticker(symbol: str, data: Any, receive_ts_ns: int) -> TickerV2:
    if data["symbol"] != symbol:
        raise _Invalid(f"data symbol {data['symbol']!r} differs from topic symbol {symbol!r}")
    return TickerV2(
        symbol,
        _int(data["sequence"]),
        decimal_text(data["bestBidPrice"]),
        decimal_text(data["bestBidSize"]),
        decimal_text(data["bestAskPrice"]),
        decimal_text(data["bestAskSize"]),
        _epoch_ns(_int(data["ts"])),
        receive_ts_ns,
    )


def _candle(topic_symbol: str, data: Any, receive_ts_ns: int) -> Candle:
    symbol, _, kind = topic_symbol.rpartition("_")
    minutes = _CANDLE_MINUTES.get(kind)
    if minutes is None:
        raise _Invalid(f"candle type {kind!r} has no fixed length in minutes")
    if data["symbol"] != symbol:
        raise _Invalid(f"data symbol {data['symbol']!r} differs from topic symbol {symbol!r}")
    row = data["candles"]
    if type(row) is not list or len(row) != 7:
        raise _Invalid("candles is not a list of 7 values")
    # Wire order: start (s), open, close, high, low, turnover, volume (lots). PROTOCOL.md lists volume before
    # turnover, but a live 2026 capture matched against the REST kline of the same minute, and ccxt, show that
    # element 5 is the turnover and element 6 the volume in lots.
    kline = Kline(
        symbol=symbol,
        granularity_min=minutes,
        open_time_ms=_int(row[0]) * 1000,
        open=decimal_text(row[1]),
        high=decimal_text(row[3]),
        low=decimal_text(row[4]),
        close=decimal_text(row[2]),
        volume=decimal_text(row[6]),
        turnover=decimal_text(row[5]),
        receive_ts_ns=receive_ts_ns,
    )
    return Candle(kline, _int(data["time"]))


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    raise _Invalid(f"not an integer: {value!r}")


def _text_id(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise _Invalid(f"id is neither text nor integer: {value!r}")


def _epoch_ns(ts: int) -> int:
    """Epoch nanoseconds from a timestamp in s, ms, us or ns, told apart by magnitude (valid after 1973)."""
    if ts >= 10**17:
        return ts
    if ts >= 10**14:
        return ts * 1_000
    if ts >= 10**11:
        return ts * 1_000_000
    return ts * 1_000_000_000
