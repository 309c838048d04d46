"""Frame parser: byte literals in, events out."""

from __future__ import annotations

import pytest

from producers.kucoin.frames import (
    Ack,
    Book,
    Candle,
    ErrorFrame,
    FrameParser,
    Malformed,
    Pong,
    Unknown,
    Welcome,
    parse_frame,
)
from producers.kucoin.lossless import decimal_text
from schemas.records import Depth50, Kline, TickerV2

RX = 1_700_000_000_123_456_789


def depth(
    bids: str, asks: str, *, topic: str = "level2Depth50:XBTUSDTM", ts: str = "1731680249700", pad: int = 0
) -> bytes:
    """A book frame; ``pad`` makes it longer (a long frame has its sides cut out before orjson reads it)."""
    return (
        f'{{"topic":"/contractMarket/{topic}","type":"message","subject":"level2","sn":{ts},"pad":"{"x" * pad}",'
        f'"data":{{"bids":{bids},"sequence":1709294490099,"timestamp":{ts},"ts":{ts},"asks":{asks}}}}}'
    ).encode()


TICKER = (
    b'{"topic":"/contractMarket/tickerV2:XBTUSDTM","type":"message","subject":"tickerV2","sn":1709284589209,'
    b'"data":{"symbol":"XBTUSDTM","sequence":1709284589209,"bestBidSize":713,"bestBidPrice":"88987.4",'
    b'"bestAskPrice":"88987.5","bestAskSize":1037,"ts":1731665526461000000}}'
)


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        (b'{"id":"probebook","type":"welcome"}', Welcome("probebook")),
        (b'{"id":"p27","type":"ack"}', Ack("p27")),
        (b'{"id":1545910660739,"type":"ack"}', Ack("1545910660739")),
        (b'{"id":"p16","type":"pong","timestamp":1790113097236506}', Pong("p16", 1790113097236506)),
        (b'{"id":"408","type":"pong"}', Pong("408", None)),
        (
            b'{"id":"p28","type":"error","code":404,"data":"topic does not exist"}',
            ErrorFrame("p28", 404, "topic does not exist"),
        ),
        (b'{"type":"error","code":400,"data":"ping timeout"}', ErrorFrame(None, 400, "ping timeout")),
        (b'{"id":"x","type":"error","code":"401","data":"token is expired"}', ErrorFrame("x", 401, "token is expired")),
        (b'{"type":"error","code":509}', ErrorFrame(None, 509, "")),
        (b'{"type":"notice","data":{}}', Unknown("notice")),
        (b'{"type":"command"}', Unknown("command")),
        (
            b'{"topic":"/contract/announcement","subject":"funding.begin","data":{}}',
            Unknown(None, "/contract/announcement"),
        ),
        (
            b'{"type":"message","topic":"/contractMarket/execution:XBTUSDTM","subject":"match","data":{}}',
            Unknown("message", "/contractMarket/execution:XBTUSDTM"),
        ),
        (
            b'{"type":"message","topic":"/contractMarket/level2:XBTUSDTM","data":{"change":"1,buy,2"}}',
            Unknown("message", "/contractMarket/level2:XBTUSDTM"),
        ),
    ],
)
def test_control_and_other_frames(frame: bytes, event: object) -> None:
    assert parse_frame(frame, RX) == event
    assert parse_frame(frame.decode(), RX) == event


def test_ticker_v2() -> None:
    assert parse_frame(TICKER, RX) == TickerV2(
        symbol="XBTUSDTM",
        sequence=1709284589209,
        best_bid_price="88987.4",
        best_bid_size="713",
        best_ask_price="88987.5",
        best_ask_size="1037",
        exchange_ts_ns=1731665526461000000,
        receive_ts_ns=RX,
    )


def test_ticker_ns_above_2_53_is_exact() -> None:
    frame = TICKER.replace(b"1731665526461000000", b"1654032575773272833")
    event = parse_frame(frame, RX)
    assert isinstance(event, TickerV2)
    assert event.exchange_ts_ns == 1654032575773272833


def test_ticker_ms_timestamp_is_scaled_to_ns() -> None:
    event = parse_frame(TICKER.replace(b"1731665526461000000", b"1731665526461"), RX)
    assert isinstance(event, TickerV2)
    assert event.exchange_ts_ns == 1731665526461000000


def test_depth50_string_prices() -> None:
    event = parse_frame(depth('[["89778.6",1534],["89778.2",54]]', '[["89778.7",854],["89779.2",4]]'), RX)
    assert event == Book(
        Depth50(
            symbol="XBTUSDTM",
            sequence=1709294490099,
            bid_prices=("89778.6", "89778.2"),
            bid_sizes=("1534", "54"),
            ask_prices=("89778.7", "89779.2"),
            ask_sizes=("854", "4"),
            exchange_ts_ms=1731680249700,
            receive_ts_ns=RX,
        ),
        50,
    )


def test_depth5_numeric_prices_keep_their_spelling() -> None:
    event = parse_frame(
        depth("[[31528.00000000,2856],[31525,6266]]", "[[31529,12725],[31530.0,21214]]", topic="level2Depth5:XBTUSDM"),
        RX,
    )
    assert isinstance(event, Book)
    assert event.depth == 5
    assert event.record.symbol == "XBTUSDM"
    assert event.record.bid_prices == ("31528.00000000", "31525")
    assert event.record.bid_sizes == ("2856", "6266")
    assert event.record.ask_prices == ("31529", "31530.0")


def test_depth_data_first_key_order() -> None:
    frame = (
        b'{"data":{"sequence":1,"asks":[[2,1]],"bids":[[1,1]],"ts":1617684642656,"timestamp":1617684642656},'
        b'"subject":"level2","topic":"/contractMarket/level2Depth50:XBTUSDM","type":"message"}'
    )
    event = parse_frame(frame, RX)
    assert isinstance(event, Book)
    assert event.record.exchange_ts_ms == 1617684642656


@pytest.mark.parametrize("ts", ["1731680249700", "1731680249700000", "1731680249700000000"])
def test_depth_timestamp_unit_decided_by_magnitude(ts: str) -> None:
    event = parse_frame(depth('[["1",1]]', '[["2",1]]', ts=ts), RX)
    assert isinstance(event, Book)
    assert event.record.exchange_ts_ms == 1731680249700


def test_depth_without_ts_uses_timestamp() -> None:
    frame = (
        b'{"type":"message","topic":"/contractMarket/level2Depth50:A","data":'
        b'{"sequence":5,"bids":[],"asks":[],"timestamp":1731680249700}}'
    )
    event = parse_frame(frame, RX)
    assert isinstance(event, Book)
    assert event.record.exchange_ts_ms == 1731680249700


@pytest.mark.parametrize(
    ("bids", "asks"),
    [("[]", '[["2",1]]'), ('[["1",1]]', "[]"), ("[]", "[]")],
)
def test_empty_book_side_is_accepted(bids: str, asks: str) -> None:
    assert isinstance(parse_frame(depth(bids, asks), RX), Book)


def test_price_zero_and_size_zero_are_tolerated() -> None:
    event = parse_frame(depth('[["1",0],["0",5]]', '[["2",1]]'), RX)
    assert isinstance(event, Book)
    assert (event.record.bid_prices, event.record.bid_sizes) == (("1", "0"), ("0", "5"))


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ('[["1",1],["2",1]]', '[["3",1]]', "bids are not strictly descending"),
        ('[["2",1],["2",1]]', '[["3",1]]', "bids are not strictly descending"),
        ('[["2",1]]', '[["4",1],["3",1]]', "asks are not strictly ascending"),
        ('[["2",1]]', '[["2",1]]', "crossed book"),
        ('[["3",1]]', '[["2",1]]', "crossed book"),
        ('[["10",1],["9.5",1]]', '[["9.9",1]]', "crossed book"),
        ('[["abc",1]]', "[]", "not a decimal"),
        ('[["nan",1]]', "[]", "not a decimal"),
        ('[["inf",1]]', "[]", "not a decimal"),
        ('[["1_0",1]]', "[]", "not a decimal"),
        ('[[" 1",1]]', "[]", "not a decimal"),
        ('[["",1]]', "[]", "not a decimal"),
        ('[["-1",1]]', "[]", "negative"),
        ('[["1",-1]]', "[]", "negative"),
        ('[["1",true]]', "[]", "not a decimal"),
        ("[[true,1]]", "[]", "not a decimal"),
        ('[["1",null]]', "[]", "not a decimal"),
        ('[["1"]]', "[]", "not [price, size]"),
        ('[["1",1,3]]', "[]", "not [price, size]"),
        ('[["1",[1]]]', "[]", "not a decimal: [1]"),
        ("[5]", "[]", "not iterable"),
        ('{"1":1}', "[]", "not a list"),
        ('"x"', "[]", "not a list"),
    ],
)
def test_invalid_books_are_malformed(bids: str, asks: str, reason: str) -> None:
    frame = depth(bids, asks)
    event = parse_frame(frame, RX)
    assert isinstance(event, Malformed)
    assert reason in event.reason
    assert event.raw is frame


def test_more_levels_than_the_depth_is_malformed() -> None:
    bids = "[" + ",".join(f'["{100 - i}",1]' for i in range(6)) + "]"
    event = parse_frame(depth(bids, "[]", topic="level2Depth5:A"), RX)
    assert isinstance(event, Malformed)
    assert "6 levels" in event.reason


@pytest.mark.parametrize("pad", [0, 600])
def test_bool_size_equal_to_a_cached_int_is_not_served_from_the_cache(pad: int) -> None:
    parser = FrameParser()
    assert isinstance(parser.parse(depth('[["1",1]]', "[]", pad=pad), RX), Book)
    assert isinstance(parser.parse(depth('[["1",true]]', "[]", pad=pad), RX), Malformed)


def test_cache_never_changes_results_and_is_bounded() -> None:
    parser = FrameParser(level_cache_size=3)
    frames = [
        depth(f'[["{p}",1],["{p - 1}",2]]', f'[["{p + 1}",3]]', pad=pad) for p in range(10, 20) for pad in (0, 600)
    ]
    first = [parser.parse(frame, RX) for frame in frames]
    again = [parser.parse(frame, RX) for frame in frames]
    fresh = [FrameParser().parse(frame, RX) for frame in frames]
    assert first == again == fresh
    assert len(parser._levels) <= 3


def test_string_and_number_spellings_of_one_level_stay_distinct() -> None:
    parser = FrameParser()
    by_number = parser.parse(depth("[[31525,1]]", "[]"), RX)
    by_text = parser.parse(depth('[["31525.0",1]]', "[]"), RX)
    assert isinstance(by_number, Book)
    assert isinstance(by_text, Book)
    assert by_number.record.bid_prices == ("31525",)
    assert by_text.record.bid_prices == ("31525.0",)


CANDLE = (
    b'{"topic":"/contractMarket/limitCandle:XBTUSDTM_1min","type":"message","data":{"symbol":"XBTUSDTM",'
    b'"candles":["1790993280","84568.3","84556.7","84568.3","84544.2","1080991.7836","12785"],'
    b'"time":1790993360463},"subject":"candle.stick"}'
)


def test_limit_candle_column_mapping() -> None:
    assert parse_frame(CANDLE, RX) == Candle(
        Kline(
            symbol="XBTUSDTM",
            granularity_min=1,
            open_time_ms=1790993280000,
            open="84568.3",
            high="84568.3",
            low="84544.2",
            close="84556.7",
            volume="12785",
            turnover="1080991.7836",
            receive_ts_ns=RX,
        ),
        1790993360463,
    )


@pytest.mark.parametrize(("kind", "minutes"), [("1min", 1), ("1hour", 60), ("8hour", 480), ("1week", 10080)])
def test_limit_candle_granularity(kind: str, minutes: int) -> None:
    event = parse_frame(CANDLE.replace(b"XBTUSDTM_1min", b"XBTUSDTM_" + kind.encode()), RX)
    assert isinstance(event, Candle)
    assert event.kline.granularity_min == minutes


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"XBTUSDTM_1min", b"XBTUSDTM_1month", "no fixed length"),
        (b"XBTUSDTM_1min", b"ETHUSDTM_1min", "differs from topic symbol"),
        (b',"12785"]', b"]", "7 values"),
        (b'"1790993280"', b'"17909.93280"', "not an integer"),
        (b'"84568.3"', b'"x"', "not a decimal"),
    ],
)
def test_bad_candles_are_malformed(old: bytes, new: bytes, reason: str) -> None:
    event = parse_frame(CANDLE.replace(old, new, 1), RX)
    assert isinstance(event, Malformed)
    assert reason in event.reason


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "Expecting value"),
        (b"not json", "Expecting value"),
        (b"\xff\xfe", "utf-8"),
        (b"[1,2]", "not a JSON object"),
        (b'"welcome"', "not a JSON object"),
        (b"{}", "neither type nor topic"),
        (b'{"type":"welcome"}', "missing field 'id'"),
        (b'{"type":"ack","id":null}', "id is neither"),
        (b'{"type":"pong","id":"1","timestamp":"soon"}', "not an integer"),
        (b'{"type":"error","code":"x"}', "not an integer"),
        (b'{"type":"error","data":"no code"}', "missing field 'code'"),
        (b'{"type":"message"}', "missing field 'topic'"),
        (b'{"type":"message","topic":7}', "partition"),
        (b'{"type":"message","topic":"/contractMarket/tickerV2"}', "without one symbol"),
        (b'{"type":"message","topic":"/contractMarket/tickerV2:A,B","data":{}}', "without one symbol"),
        (b'{"type":"message","topic":"/contractMarket/tickerV2:A"}', "missing field 'data'"),
        (b'{"type":"message","topic":"/contractMarket/tickerV2:A","data":[]}', "indices"),
        (b"[" * 100_000 + b"]" * 100_000, "recursion"),
    ],
)
def test_garbage_is_malformed_never_raised(frame: bytes, reason: str) -> None:
    event = parse_frame(frame, RX)
    assert isinstance(event, Malformed)
    assert reason in event.reason


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b'"symbol":"XBTUSDTM"', b'"symbol":"ETHUSDTM"', "differs from topic symbol"),
        (b'"bestBidPrice":"88987.4"', b'"bestBidPrice":88987.4e', "Expecting"),
        (b'"bestBidPrice":"88987.4"', b'"bestBidPrice":null', "not a decimal"),
        (b'"bestBidSize":713', b'"bestBidSize":-713', "negative"),
        (b'"sequence":1709284589209', b'"sequence":1.5', "not an integer"),
        (b'"sequence":1709284589209', b'"sequence":true', "not an integer"),
        (b',"ts":1731665526461000000', b"", "missing field 'ts'"),
    ],
)
def test_bad_tickers_are_malformed(old: bytes, new: bytes, reason: str) -> None:
    event = parse_frame(TICKER.replace(old, new), RX)
    assert isinstance(event, Malformed)
    assert reason in event.reason


def test_exponent_and_string_sizes_are_kept_verbatim() -> None:
    frame = TICKER.replace(b'"bestBidSize":713', b'"bestBidSize":"2.0E-4"').replace(b"1037", b"1.5e3")
    event = parse_frame(frame, RX)
    assert isinstance(event, TickerV2)
    assert (event.best_bid_size, event.best_ask_size) == ("2.0E-4", "1.5e3")


def test_bytearray_and_memoryview_frames() -> None:
    assert parse_frame(bytearray(TICKER), RX) == parse_frame(memoryview(TICKER), RX) == parse_frame(TICKER, RX)


def test_decimal_checks_hold_when_the_text_was_seen_before() -> None:
    """decimal_text remembers checked strings: only non-negative ones, so a sign check is never skipped."""
    assert decimal_text("-2.5", signed=True) == "-2.5"
    with pytest.raises(ValueError, match="negative"):
        decimal_text("-2.5")
    assert decimal_text("2.5") == decimal_text("2.5") == "2.5"
    for bad in ("2.5 ", "nan", "1_000", 2.5, True):
        with pytest.raises(ValueError):
            decimal_text(bad)
