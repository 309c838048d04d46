"""Parse one KuCoin Futures WebSocket text frame into one typed event.

Bytes or text in, one event out, never an exception: anything unparseable or schema-invalid becomes
:class:`Malformed`, so a single bad frame cannot stop a connection. Exchange decimals keep their exact wire
text (see :mod:`.lossless`); market data becomes the records of :mod:`schemas.records`.

This runs for every frame (tens of thousands per second per core), hence orjson, the C-level ``map``/``zip`` calls
and two caches for books, which are resent every 100 ms with few levels changed. A book's two arrays are cut out of
the frame before orjson reads the rest (see :func:`_tree`): a side byte for byte the same as in the last book of its
topic is not parsed at all (the side validated then is reused), and any other side is split into the raw JSON of
its levels: those it shares with that last side at its start and at its end keep their parse, and the others are
looked up in a cache of validated levels (a level not seen yet is parsed and checked alone). The verdicts are those
of checking every level of the parsed tree, which is what a side that could not be cut gets.

orjson turns fractional numbers (and integers beyond 64 bits) into binary floats, which would lose the exact text.
Every number of a market-data event passes an integer or decimal-text check that refuses floats, so a market-data
event from orjson's tree is exactly the lossless parse's; any other outcome (a control frame, a malformed one, a
2021-era float price) is parsed again with the lossless decoder, and that result stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, count, islice
from operator import gt, lt, ne, not_
from typing import Any, cast

import orjson

from schemas.fast_construct import builder
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
_TICKER, _CANDLE = 0, -1
_PUSHES = {
    TOPIC_PREFIX + Stream.TICKER_V2.value: _TICKER,
    TOPIC_PREFIX + "limitCandle": _CANDLE,
    TOPIC_PREFIX + Stream.DEPTH50.value: 50,
    TOPIC_PREFIX + Stream.DEPTH5.value: 5,
}
"""The channels of market data: a ticker, a candle, or a book of that depth."""
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
_Side = tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...], list[bytes]]
"""A validated side: its prices, its sizes, its prices as floats (for the order checks only) and the raw levels it
was read from (none when it came as a list)."""
_LastBook = tuple[bytes, _Side, bytes, _Side]
"""The raw bids array, its validated side, the raw asks array, its side: the last valid book of a topic."""
_NO_SIDE: _Side = ((), (), (), [])
_NO_BOOK: _LastBook = (b"", _NO_SIDE, b"", _NO_SIDE)
_CUT_FROM = 512
"""Frames shorter than this (tickers, control frames, thin books) parse faster whole than cut (:func:`_tree`)."""
_MARKER = b"-7340277174458711"
"""With one more digit, the number put in place of each side cut out of a book (:func:`_cut_sides`)."""
_BIDS_MARK, _ASKS_MARK = _MARKER + b"0", _MARKER + b"1"
_BIDS_MARKED, _ASKS_MARKED = int(_BIDS_MARK), int(_ASKS_MARK)
_PLAIN_LEVEL = re.compile(rb'"([0-9]+(?:\.[0-9]+)?)",(0|[1-9][0-9]{0,17})').fullmatch
"""The usual level: a price string of digits with an optional fraction, and an integer size within 64 bits."""
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

_new_depth50, _new_ticker, _new_book = builder(Depth50), builder(TickerV2), builder(Book)
"""Constructors of the market-data events, a third of the cost of their frozen ``__init__``."""


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
            msg = _tree(frame) if type(frame) is bytes and len(frame) >= _CUT_FROM else orjson.loads(frame)
            event = self._event(msg, receive_ts_ns)
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
            push = _PUSHES.get(channel)
            if push is None:
                return Unknown(kind, topic)
            if not symbol or "," in symbol:
                raise _Invalid(f"push topic without one symbol: {topic!r}")
            if push == _TICKER:
                return _ticker(symbol, msg["data"], receive_ts_ns)
            if push == _CANDLE:
                return _candle(symbol, msg["data"], receive_ts_ns)
            return self._book(topic, symbol, push, msg["data"], receive_ts_ns)
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
        last_bids, last_asks = last[1], last[3]
        # A list never equals the bytes kept.
        bids = self._side(bid_levels, depth, last_bids, gt, "bids") if bid_levels != last[0] else last_bids
        asks = self._side(ask_levels, depth, last_asks, lt, "asks") if ask_levels != last[2] else last_asks
        if bids[2] and asks[2] and bids[2][0] >= asks[2][0]:
            raise _Invalid("crossed book: best bid >= best ask")
        ts = data.get("ts")
        if ts is None:
            ts = data["timestamp"]
        exchange_ts_ms = _epoch_ns(ts if type(ts) is int else _int(ts)) // 1_000_000
        record = _new_depth50(
            symbol,
            sequence if type(sequence := data["sequence"]) is int else _int(sequence),
            bids[0],
            bids[1],
            asks[0],
            asks[1],
            exchange_ts_ms,
            receive_ts_ns,
        )
        if (bids is not last_bids or asks is not last_asks) and type(bid_levels) is bytes:
            if len(self._books) >= _BOOK_CACHE_TOPICS:
                self._books.clear()
            self._books[topic] = (bid_levels, bids, ask_levels, asks)
        return _new_book(record, depth)

    def _side(self, levels: Any, depth: int, last: _Side, ordered: Callable[[float, float], bool], name: str) -> _Side:
        """One side validated, its prices in ``ordered`` order; the ``last`` side's own price tuples where the prices
        are the same (most changes are sizes), so that the Avro encoder can reuse their encoding by identity.

        The raw levels a side shares with the ``last`` side (valid) at its start and at its end, usually all but a
        few, keep their parse: only the levels between are looked up, and only their prices and their neighbours'
        need an order check.
        """
        if type(levels) is bytes:  # an array cut out by _tree
            raw = _split_levels(levels)
            size = len(raw)
        elif type(levels) is list:
            raw, size = [], len(levels)
        else:
            raise _Invalid("book side is not a list")
        if size > depth:
            raise _Invalid(f"{size} levels on a depth-{depth} side")
        if not size:
            return _NO_SIDE
        old = last[3]
        shared = min(len(raw), len(old))  # none when the side came as a list
        before = next(compress(count(), map(ne, raw, old)), shared)
        after = min(next(compress(count(), map(ne, reversed(raw), reversed(old))), shared), shared - before)
        if raw:
            entries = self._entries(raw[before : size - after] if before or after else raw)
        else:
            entries = tuple(_level(tuple(level)) for level in levels)
        prices, sizes, values = zip(*entries, strict=True) if entries else ((), (), ())
        if before or after:  # the new levels go between the last side's shared ones
            cut = len(old) - after
            if prices == last[0][before:cut]:
                return last[0], last[1][:before] + sizes + last[1][cut:], last[2], raw
            prices = last[0][:before] + prices + last[0][cut:]
            sizes = last[1][:before] + sizes + last[1][cut:]
            values = last[2][:before] + values + last[2][cut:]
            checked = values[max(before - 1, 0) : size - after + 1]
        elif prices == last[0]:
            return last[0], sizes, last[2], raw
        else:
            checked = values
        if not all(map(ordered, checked, islice(checked, 1, None))):
            raise _Invalid(f"{name} are not strictly {'descending' if ordered is gt else 'ascending'}")
        return prices, sizes, values, raw

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


def _tree(frame: bytes) -> Any:
    """orjson's tree of ``frame``; for a book, ``data``'s bids and asks stay the raw bytes of their JSON arrays.

    The two arrays are cut out and replaced by two marker numbers (see :func:`_cut_sides`), and orjson reads the
    rest. That is exact when ``data.bids`` and ``data.asks`` come back as the markers: no other token has their
    values, so the places cut out held the values of these members and every other value is the frame's own.
    Whether each array is valid JSON is for :meth:`FrameParser._side` to find out.
    """
    cut = _cut_sides(frame)
    if cut is not None:
        msg = orjson.loads(cut[0])
        data = msg.get("data") if type(msg) is dict else None
        if type(data) is dict:
            bids, asks = data.get("bids"), data.get("asks")
            if type(bids) is int and bids == _BIDS_MARKED and type(asks) is int and asks == _ASKS_MARKED:
                data["bids"], data["asks"] = cut[1], cut[2]
                return msg
    return orjson.loads(frame)


def _cut_sides(frame: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The frame with the arrays after ``"bids":`` and ``"asks":`` replaced by the markers, and the two arrays.

    None when there are no such arrays, or the frame holds the marker digits outside them. Where each array ends
    only matters for speed, not exactness (that rests on the markers): it is taken to be the last ``]`` before the
    other array, or before the end of the frame. A book's sides are followed by a few numbers at most, so these
    searches backwards are short.
    """
    bids = frame.find(b'"bids":[') + 7  # where the array's "[" is
    asks = frame.find(b'"asks":[') + 7
    if bids < 7 or asks < 7:
        return None
    if bids < asks:
        bids_end, asks_end = frame.rfind(b"]", bids, asks) + 1, frame.rfind(b"]", asks) + 1
        rest = b"".join((frame[:bids], _BIDS_MARK, frame[bids_end:asks], _ASKS_MARK, frame[asks_end:]))
    else:
        asks_end, bids_end = frame.rfind(b"]", asks, bids) + 1, frame.rfind(b"]", bids) + 1
        rest = b"".join((frame[:asks], _ASKS_MARK, frame[asks_end:bids], _BIDS_MARK, frame[bids_end:]))
    if bids_end <= bids or asks_end <= asks or rest.count(_MARKER) != 2:
        return None
    return rest, frame[bids:bids_end], frame[asks:asks_end]


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
    plain = _PLAIN_LEVEL(level)
    if plain is not None:  # what orjson and the checks below make of it, without them
        price = plain[1].decode()
        return price, plain[2].decode(), float(price)
    return _level(tuple(orjson.loads(b"[" + level + b"]")))


def _level(key: tuple[Any, ...]) -> _LevelEntry:
    if len(key) != 2:
        raise _Invalid(f"book level is not [price, size]: {list(key)!r}")
    price = decimal_text(key[0])
    return price, decimal_text(key[1]), float(price)


def _ticker(symbol: str, data: Any, receive_ts_ns: int) -> TickerV2:
    if data["symbol"] != symbol:
        raise _Invalid(f"data symbol {data['symbol']!r} differs from topic symbol {symbol!r}")
    return _new_ticker(
        symbol,
        sequence if type(sequence := data["sequence"]) is int else _int(sequence),
        decimal_text(data["bestBidPrice"]),
        decimal_text(data["bestBidSize"]),
        decimal_text(data["bestAskPrice"]),
        decimal_text(data["bestAskSize"]),
        _epoch_ns(ts if type(ts := data["ts"]) is int else _int(ts)),
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
