"""The orjson fast path of :class:`FrameParser` gives exactly the lossless parse's events, on every capture and on
frames built to tempt it (float prices, integers beyond 64 bits, constants, surrogates, duplicate keys)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from producers.kucoin import frames
from producers.kucoin.frames import Book, Event, FrameParser, Malformed
from schemas.records import TickerV2

from .conftest import CAPTURES, MISSING, load_captures

RX = 1_790_000_000_000_000_000
WS_CAPTURES = ("ws_tickerV2.jsonl", "ws_depth50.jsonl", "ws_candle.jsonl", "ws_control.jsonl", "ws_other.jsonl")


class _NoOrjson:
    """Stands in for orjson: every frame takes the lossless path."""

    @staticmethod
    def loads(data: Any) -> Any:
        raise ValueError("orjson disabled")


@pytest.fixture
def lossless(monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes | str], Event]:
    """Parse with the lossless decoder alone, on a fresh parser (the fast path is restored after the test)."""

    def parse(frame: bytes | str) -> Event:
        with monkeypatch.context() as patch:
            patch.setattr(frames, "orjson", _NoOrjson)
            return FrameParser().parse(frame, RX)

    return parse


def _ticker(bid: str, size: str, ts: str = "1731665526461000000", extra: str = "") -> bytes:
    return (
        '{"topic":"/contractMarket/tickerV2:XBTUSDTM","type":"message","subject":"tickerV2","data":{'
        f'"symbol":"XBTUSDTM","sequence":1709284589209,"bestBidSize":{size},"bestBidPrice":{bid},'
        f'"bestAskPrice":"88987.5","bestAskSize":1037,"ts":{ts}{extra}}}}}'
    ).encode()


def _depth(bids: str, asks: str = '[["88988",3]]', sequence: str = "1709294490099") -> bytes:
    return (
        '{"topic":"/contractMarket/level2Depth50:XBTUSDTM","type":"message","subject":"level2",'
        f'"data":{{"bids":{bids},"sequence":{sequence},"ts":1731680249700,"asks":{asks}}}}}'
    ).encode()


PAD = f'"pad":"{"x" * 500}"'
"""Makes a frame long enough for its sides to be cut out (``frames._CUT_FROM``)."""


def _book(members: list[str], topic: str = "level2Depth50:XBTUSDTM") -> bytes:
    return (
        f'{{"topic":"/contractMarket/{topic}","type":"message","subject":"level2","data":{{{",".join(members)}}}}}'
    ).encode()


def _sides(bids: str, asks: str, ts: int = 1731680249700, *extra: str) -> list[str]:
    return [f'"bids":{bids}', f'"sequence":{ts}', f'"asks":{asks}', f'"ts":{ts}', *extra]


TEMPTING = [
    _ticker('"88987.4"', "713"),
    _ticker("88987.40", "713"),  # a 2021-style number price: its text must stay 88987.40
    _ticker('"88987.4"', "713.0"),
    _ticker('"88987.4"', "1E3"),
    _ticker('"88987.4"', "18446744073709551616"),  # beyond 64 bits: orjson gives a float
    _ticker('"88987.4"', "-9223372036854775809"),
    _ticker('"88987.4"', "713", ts="1.731665526461E18"),
    _ticker('"88987.4"', "713", ts="99999999999999999999"),
    _ticker('"88987.4"', "NaN"),
    _ticker('"88987.4"', "713", extra=',"bestBidPrice":"1.5"'),  # duplicate key: the last one wins
    _ticker('"88987.4"', "713", extra=',"note":"\\ud800"'),  # a lone surrogate escape
    _ticker('"88987.4"', "713", extra=',"x":1e400'),
    _ticker('"\\u0038\\u0038987.4"', "713"),
    _ticker('"88987.4"', "true"),
    _ticker('"88987.4"', "-0"),
    _depth('[["88987.4",1],["88987.3",2]]'),
    _depth("[[31528.00000000,2856],[31527.0,10]]"),
    _depth('[["88987.4",1.0]]'),
    _depth('[["88987.4",1],["88987.3",true]]'),
    _depth('[["88987.4",-1]]'),
    _depth('[["88987.4",18446744073709551616]]'),
    _depth('[["88987.4",1]]', sequence="1.709294490099E12"),
    _depth('[["88987.4",1,2]]'),
    _depth('[[["88987.4"],1]]'),
    _depth('[["88989",1]]'),  # crossed
    '{"topic":"/contractMarket/tickerV2:A","data":{}}'.encode("utf-16"),
    b'{"topic":"/contractMarket/tickerV2:\xed\xa0\x80","type":"message","data":{}}',  # UTF-8 of a surrogate
    b"\xef\xbb\xbf{}",
    b'{"id":1.0,"type":"ack"}',
    b'{"id":"1","type":"pong","timestamp":1.5}',
    b'{"type":"error","code":400,"data":1.50}',
    b'{"type":1.0}',
    b"[" * 5000 + b"]" * 5000,
    b"",
]


@pytest.mark.parametrize("frame", TEMPTING, ids=range(len(TEMPTING)))
def test_tempting_frames_parse_as_the_lossless_parser_says(
    frame: bytes, lossless: Callable[[bytes | str], Event]
) -> None:
    assert FrameParser().parse(frame, RX) == lossless(frame)
    assert FrameParser().parse(frame.decode(errors="surrogateescape"), RX) == lossless(
        frame.decode(errors="surrogateescape")
    )


def test_float_prices_keep_their_exact_text() -> None:
    event = FrameParser().parse(_depth("[[31528.00000000,2856],[31527.0,10]]"), RX)
    assert isinstance(event, Book)
    assert event.record.bid_prices == ("31528.00000000", "31527.0")
    ticker = FrameParser().parse(_ticker("88987.40", "713"), RX)
    assert isinstance(ticker, TickerV2) and ticker.best_bid_price == "88987.40"


@pytest.mark.skipif(not CAPTURES.is_dir(), reason=MISSING)
@pytest.mark.parametrize("name", WS_CAPTURES)
def test_every_capture_parses_as_the_lossless_parser_says(name: str, lossless: Callable[[bytes | str], Event]) -> None:
    parser = FrameParser()  # one parser for the whole file, so its caches are exercised too
    for capture in load_captures(name):
        assert parser.parse(capture.raw, RX) == lossless(capture.raw), capture
        assert parser.parse(capture.raw.encode(), RX) == lossless(capture.raw.encode()), capture


def test_random_number_spellings_parse_as_the_lossless_parser_says(lossless: Callable[[bytes | str], Event]) -> None:
    """Levels and ticker fields spelled at random as strings, ints, floats, exponents and huge integers."""
    rng = random.Random(4)
    spellings: list[Callable[[float], str]] = [
        lambda p: f'"{p}"',
        lambda p: str(int(p)),
        lambda p: f"{p:.8f}",
        lambda p: f"{p:.3E}",
        lambda p: str(int(p) * 10**20),
        lambda p: "-" + str(int(p)),
    ]
    parser = FrameParser(level_cache_size=64)
    for _ in range(400):
        prices = sorted({round(rng.uniform(1, 100), 1) for _ in range(rng.randrange(1, 6))}, reverse=True)
        levels = ",".join(f"[{rng.choice(spellings)(p)},{rng.choice(spellings)(rng.randrange(1, 99))}]" for p in prices)
        for frame in (_depth(f"[{levels}]", asks="[]"), _ticker(rng.choice(spellings)(prices[0]), str(prices[-1]))):
            expected = lossless(frame)
            assert parser.parse(frame, RX) == expected, frame
            if isinstance(expected, Malformed):
                assert expected.raw is frame


def test_wire_format_frames_never_reach_the_lossless_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data: Any) -> Any:
        raise AssertionError("the lossless decoder was used")

    monkeypatch.setattr(frames, "loads", refuse)
    assert isinstance(FrameParser().parse(_ticker('"88987.4"', "713"), RX), TickerV2)
    assert isinstance(FrameParser().parse(_depth('[["88987.4",1],["88987.3",2]]'), RX), Book)
    assert isinstance(FrameParser().parse(_book(_sides('[["88987.4",1],["88987.3",2]]', "[]", 1, PAD)), RX), Book)


def test_book_sides_cut_from_the_frame_parse_as_the_lossless_parser_says(
    lossless: Callable[[bytes | str], Event],
) -> None:
    """Sides cut out of the raw frame (see ``frames._tree``), in any layout a frame can have, including ones where
    the cut is in the wrong place: the marker digits elsewhere, ``]]`` inside a string, arrays nested deeper,
    duplicate keys, whitespace, a side that is not an array."""
    rng = random.Random(7)
    sides = [
        "[]",
        '[["88987.4",1]]',
        '[["88987.4",1],["88987.3",2],["88987.2",3]]',
        '[["88987.4",1],["88987.3",true]]',
        '[["88987.4",1.0]]',
        "[[88987.4,1]]",
        '[["1],[2",3]]',
        '[["88987.4",1],["88987.3"]]',
        '[[["88987.4",1]]]',
        '[["88987.4",1] , ["88987.3",2]]',
        '[ ["88987.4",1]]',
        '[["8.8E4",0],["-7340277174458711",1]]',
        '"[]"',
        "null",
    ]
    asks = ['[["88988",3]]', '[["88988",3],["88989",5]]', "[]", '[["88987.4",1]]', '[["88990",1],["88989",2]]']
    extras = [
        '"sequence":-73402771744587110',
        '"timestamp":1731680249700',
        '"note":"\\"bids\\":[[\\"1\\",2]]"',
        '"note":"-73402771744587111"',
        '"bids":[["1",1]]',
        '"x":[[1]]',
    ]
    parser = FrameParser(level_cache_size=16)  # one parser throughout: its caches must never change a verdict
    books = 0
    for _ in range(3000):
        members = _sides(rng.choice(sides), rng.choice(asks), rng.choice([1731680249700, 1731680249800]))
        members += rng.sample(extras, rng.choice([0, 0, 0, 1, 2])) + [PAD] * (rng.random() < 0.8)
        rng.shuffle(members)
        topic = rng.choice(["level2Depth50:XBTUSDTM", "level2Depth50:ETHUSDTM", "level2Depth5:XBTUSDTM"])
        frame = _book(members, topic)
        for raw in (frame, frame.decode()):
            expected = lossless(raw)
            assert parser.parse(raw, RX) == expected, raw
            books += isinstance(expected, Book)
    assert books > 1000


def test_a_cached_side_is_checked_again_for_another_depth_and_side() -> None:
    """The last book is kept per topic and side: the same array can be valid bids of one book and invalid asks, or
    too deep for Depth5, of another."""
    six = "[" + ",".join(f'["{100 - i}",1]' for i in range(6)) + "]"
    parser = FrameParser()
    assert isinstance(parser.parse(_book(_sides(six, "[]", 1, PAD)), RX), Book)
    too_deep = parser.parse(_book(_sides(six, "[]", 1, PAD), "level2Depth5:XBTUSDTM"), RX)
    assert isinstance(too_deep, Malformed) and "6 levels" in too_deep.reason
    assert isinstance(parser.parse(_book(_sides("[]", six, 1, PAD)), RX), Malformed)
    crossed = parser.parse(_book(_sides(six, '[["95",1]]', 1, PAD)), RX)
    assert isinstance(crossed, Malformed) and "crossed" in crossed.reason


def test_an_unchanged_side_comes_back_as_the_same_tuples() -> None:
    """What lets the Avro encoder reuse a side's encoding by identity."""
    parser = FrameParser()
    first = parser.parse(_book(_sides('[["2",1],["1",4]]', '[["3",5]]', 1, PAD)), RX)
    second = parser.parse(_book(_sides('[["2",1],["1",4]]', '[["3",6]]', 2, PAD)), RX)
    assert isinstance(first, Book) and isinstance(second, Book)
    assert second.record.bid_prices is first.record.bid_prices and second.record.bid_sizes is first.record.bid_sizes
    assert second.record.ask_sizes == ("6",) and second.record.ask_prices == first.record.ask_prices


def _edit(levels: list[tuple[str, str]], descending: bool, rng: random.Random) -> list[tuple[str, str]]:
    """A book side after a few random changes: sizes, levels added or removed anywhere, and now and then a price
    that breaks the order (next to a neighbour kept from the last side, or in between) or a level that is not one."""
    levels = list(levels)
    for _ in range(rng.choice([1, 1, 2, 3])):
        at = rng.randrange(len(levels) + 1)
        kind = rng.random()
        if kind < 0.4 and at < len(levels):
            levels[at] = (levels[at][0], str(rng.randrange(1, 500)))
        elif kind < 0.6:
            outer = _number(levels[at][0]) if at < len(levels) else None
            inner = _number(levels[at - 1][0]) if at else None
            if outer is None:
                outer = inner - 2.0 if descending and inner is not None else (inner or 0.0) + 2.0
            if inner is None:
                inner = outer + 2.0 if descending else outer - 2.0
            if abs(inner - outer) > 0.2:
                price = rng.uniform(min(inner, outer) + 0.1, max(inner, outer) - 0.1)
                levels.insert(at, (f"{round(price, 1)}", str(rng.randrange(1, 9))))
        elif kind < 0.8 and at < len(levels) and len(levels) > 1:
            del levels[at]
        elif kind < 0.9 and at < len(levels):
            levels[at] = (str(round(_number(levels[at][0]) + rng.choice([-3.0, 0.0, 3.0]), 1)), levels[at][1])
        elif at < len(levels):
            levels[at] = (rng.choice(["1e400", "-1", "x"]), levels[at][1])
    return levels


def _number(price: str) -> float:
    try:
        return float(price)
    except ValueError:  # a price made invalid by an earlier edit
        return 0.0


def _side_json(levels: list[tuple[str, str]]) -> str:
    return "[" + ",".join(f'["{price}",{size}]' for price, size in levels) + "]"


@pytest.mark.parametrize("depth", [50, 5])
def test_books_changing_level_by_level_parse_as_the_lossless_parser_says(
    depth: int, lossless: Callable[[bytes | str], Event]
) -> None:
    """One parser follows books whose sides change a few levels at a time, as the exchange's do: the levels a side
    shares with the last valid side of its topic keep their parse, and the verdicts must stay the lossless parser's
    (an invalid book never becomes the one the next is compared with)."""
    rng = random.Random(depth)
    topic = f"level2Depth{depth}:XBTUSDTM"
    parser = FrameParser(level_cache_size=rng.choice([8, 4096]))
    bids = [(f"{1000 - i}.5", str(i + 1)) for i in range(depth)]
    asks = [(f"{1001 + i}.5", str(i + 2)) for i in range(depth)]
    verdicts = {True: 0, False: 0}
    for ts in range(2000):
        new_bids = _edit(bids, True, rng) if rng.random() < 0.7 else bids
        new_asks = _edit(asks, False, rng) if rng.random() < 0.5 else asks
        frame = _book(_sides(_side_json(new_bids[: depth + 1]), _side_json(new_asks[:depth]), ts, PAD), topic)
        raw = frame if rng.random() < 0.9 else frame.decode()  # text: its sides come as lists, with no shared levels
        expected = lossless(raw)
        assert parser.parse(raw, RX) == expected, raw
        verdicts[isinstance(expected, Book)] += 1
        if isinstance(expected, Book):
            bids, asks = new_bids, new_asks
    assert verdicts[True] > 500 and verdicts[False] > 200
