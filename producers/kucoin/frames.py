"""Parse one KuCoin Futures WebSocket text frame into one typed event.

Bytes or text in, one event out, never an exception: anything unparseable or schema-invalid becomes
:class:`Malformed`, so a single bad frame cannot stop a connection. Exchange decimals keep their exact wire
text (see :mod:`.lossless`); market data becomes the records of :mod:`schemas.records`.

This runs for every frame (tens of thousands per second per core), hence orjson, the C-level ``map``/``zip`` calls
and two caches for books, which are resent every 100 ms with few levels changed. A book's two arrays are cut out of
the frame before orjson reads the rest (see :func:`_tree`): a side byte for byte the same as in the last book of its
topic is not parsed at all (the side validated then is reused), and any other side is split into the raw JSON of
its levels, each looked up in a cache of validated levels (a level not seen yet is parsed and checked alone). The
verdicts are those of checking every level of the parsed tree, which is what a side that could not be cut gets.

orjson turns fractional numbers (and integers beyond 64 bits) into binary floats, which would lose the exact text.
Every number of a market-data event passes an integer or decimal-text check that refuses floats, so a market-data
event from orjson's tree is exactly the lossless parse's; any other outcome (a control frame, a malformed one, a
2021-era float price) is parsed again with the lossless decoder, and that result stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, islice
from operator import gt, lt, not_
from typing import Any, cast

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
_BOOK_CACHE_TOPICS = 8_192
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
_Side = tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]
_LastBook = tuple[bytes, _Side, bytes, _Side]
"""The raw bids array, its validated side, the raw asks array, its side: the last valid book of a topic."""
_NO_SIDE: _Side = ((), (), ())
_NO_BOOK: _LastBook = (b"", _NO_SIDE, b"", _NO_SIDE)
_CUT_FROM = 512
"""Frames shorter than this (tickers, control frames, thin books) parse faster whole than cut (:func:`_tree`)."""
_MARKER = b"-7340277174458711"
"""With one more digit, the number put in place of each side cut out of a book (:func:`_cut_sides`)."""
_BIDS_MARK, _ASKS_MARK = _MARKER + b"0", _MARKER + b"1"
_BIDS_MARKED, _ASKS_MARKED = int(_BIDS_MARK), int(_ASKS_MARK)
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
    """Frame parser with bounded caches of validated book levels and of the last book per topic; share one per
    process or per connection."""

    def __init__(self, *, level_cache_size: int = DEFAULT_LEVEL_CACHE_SIZE) -> None:
        self._levels: dict[bytes, _LevelEntry] = {}  # a level's JSON inside its brackets -> the level validated
        self._level_cache_size = level_cache_size
        self._books: dict[str, _LastBook] = {}  # topic -> its last valid book whose sides came as raw bytes

    def parse(self, frame: bytes | bytearray | memoryview | str, receive_ts_ns: int) -> Event:
        """Turn one frame into one event; ``receive_ts_ns`` stamps market-data records."""
        try:
            event = self._event(_tree(frame) if len(frame) >= _CUT_FROM else orjson.loads(frame), receive_ts_ns)
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
                return self._book(topic, symbol, depth, msg["data"], receive_ts_ns)
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

    def _book(self, topic: str, symbol: str, depth: int, data: Any, receive_ts_ns: int) -> Book:
        bid_levels, ask_levels = data["bids"], data["asks"]
        last = self._books.get(topic, _NO_BOOK)
        new_bids, new_asks = bid_levels != last[0], ask_levels != last[2]  # a list never equals the bytes kept
        bid_prices, bid_sizes, bid_values = bids = self._side(bid_levels, depth, last[1]) if new_bids else last[1]
        ask_prices, ask_sizes, ask_values = asks = self._side(ask_levels, depth, last[3]) if new_asks else last[3]
        # Prices checked in the last book (the same tuple) are in order.
        if bid_values is not last[1][2] and not all(map(gt, bid_values, islice(bid_values, 1, None))):
            raise _Invalid("bids are not strictly descending")
        if ask_values is not last[3][2] and not all(map(lt, ask_values, islice(ask_values, 1, None))):
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
        if (new_bids or new_asks) and type(bid_levels) is bytes:
            if len(self._books) >= _BOOK_CACHE_TOPICS:
                self._books.clear()
            self._books[topic] = (bid_levels, bids, ask_levels, asks)
        return Book(record, depth)

    def _side(self, levels: Any, depth: int, last: _Side) -> _Side:
        """One side validated, but for the order of its prices; the ``last`` side's own tuples where the prices are
        the same (most changes are sizes), so that the Avro encoder can reuse their encoding by identity."""
        raw = type(levels) is bytes  # an array cut out by _tree
        if raw:
            levels = _split_levels(levels)
        elif type(levels) is not list:
            raise _Invalid("book side is not a list")
        if len(levels) > depth:
            raise _Invalid(f"{len(levels)} levels on a depth-{depth} side")
        if not levels:
            return _NO_SIDE
        entries = self._entries(levels) if raw else tuple(_level(tuple(level)) for level in levels)
        prices, sizes, values = zip(*entries, strict=True)
        if prices == last[0]:
            return last[0], sizes, last[2]
        return prices, sizes, values

    def _entries(self, levels: list[bytes]) -> tuple[_LevelEntry, ...]:
        """Each raw level validated: from the cache, else checked now and cached."""
        known = tuple(map(self._levels.get, levels))
        if not all(known):
            fresh = {level: _raw_level(level) for level in compress(levels, map(not_, known))}
            if len(self._levels) + len(fresh) > self._level_cache_size:
                self._levels.clear()
            self._levels.update(fresh)
            entry_of: Callable[[bytes, _LevelEntry | None], _LevelEntry | None] = fresh.get
            known = tuple(map(entry_of, levels, known))
        return cast(tuple[_LevelEntry, ...], known)  # no None is left


_DEFAULT_PARSER = FrameParser()


def parse_frame(frame: bytes | bytearray | memoryview | str, receive_ts_ns: int) -> Event:
    """Parse with a process-wide :class:`FrameParser` (its cache only speeds up, never changes, results)."""
    return _DEFAULT_PARSER.parse(frame, receive_ts_ns)


def _tree(frame: bytes | bytearray | memoryview | str) -> Any:
    """orjson's tree of ``frame``; for a book, ``data``'s bids and asks stay the raw bytes of their JSON arrays.

    The two arrays are cut out and replaced by two marker numbers (see :func:`_cut_sides`), and orjson reads the
    rest. That is exact when ``data.bids`` and ``data.asks`` come back as the markers: no other token has their
    values, so the places cut out held the values of these members and every other value is the frame's own.
    Whether each array is valid JSON is for :meth:`FrameParser._side` to find out.
    """
    if type(frame) is str:
        frame = frame.encode()  # a lone surrogate raises, as orjson would
    if type(frame) is bytes and (cut := _cut_sides(frame)) is not None:
        rest, bids, asks = cut
        msg = orjson.loads(rest)
        data = msg.get("data") if type(msg) is dict else None
        if type(data) is dict and _is(data.get("bids"), _BIDS_MARKED) and _is(data.get("asks"), _ASKS_MARKED):
            data["bids"], data["asks"] = bids, asks
            return msg
    return orjson.loads(frame)


def _cut_sides(frame: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The frame with the arrays after ``"bids":`` and ``"asks":`` replaced by the markers, and the two arrays.

    None when there are no such arrays, or the frame holds the marker digits outside them. Where each array ends
    only matters for speed, not exactness (that rests on the markers): it is taken to be the last ``]]`` before the
    other array, or before the end of the frame. A book's sides are followed by a few numbers at most, so these
    searches backwards are short.
    """
    bids = frame.find(b'"bids":[') + 7  # where the array's "[" is
    asks = frame.find(b'"asks":[') + 7 if bids >= 7 else -1
    if asks < 7:
        return None
    first, later = min(bids, asks), max(bids, asks)
    first_end = first + 2 if frame.startswith(b"[]", first) else frame.rfind(b"]]", first, later) + 2
    later_end = later + 2 if frame.startswith(b"[]", later) else frame.rfind(b"]]") + 2
    if not first + 2 <= first_end <= later < later_end - 1:
        return None
    marks = (_BIDS_MARK, _ASKS_MARK) if first == bids else (_ASKS_MARK, _BIDS_MARK)
    rest = b"".join((frame[:first], marks[0], frame[first_end:later], marks[1], frame[later_end:]))
    if rest.count(_MARKER) != 2:
        return None
    bids_end, asks_end = (first_end, later_end) if first == bids else (later_end, first_end)
    return rest, frame[bids:bids_end], frame[asks:asks_end]


def _is(value: Any, marked: int) -> bool:
    """``value`` is the integer ``marked`` itself, not a number equal to it."""
    return type(value) is int and value == marked


def _split_levels(array: bytes) -> list[bytes]:
    """The levels of a raw side without their brackets: ``b'[["1.5",2],["1.4",7]]'`` -> ``'"1.5",2'``, ``'"1.4",7'``.

    The array is ``[[`` + ``],[``.join(levels) + ``]]``, so when each ``[`` + level + ``]`` is a valid level, the
    array is valid JSON and these are its levels, whatever the bytes of a level are.
    """
    if array == b"[]":
        return []
    if not array.startswith(b"[[") or not array.endswith(b"]]"):
        raise _Invalid("book side is not a list of levels")
    return array[2:-2].split(b"],[")


def _raw_level(level: bytes) -> _LevelEntry:
    return _level(tuple(orjson.loads(b"[" + level + b"]")))


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
