"""The pure market model, contracts and number spellings: no server."""

from __future__ import annotations

import hashlib
import itertools
import json
from decimal import Decimal

import pytest

from ops.fake_exchange import Market, MarketModel, Subscription, make_contracts
from ops.fake_exchange.contracts import MAX_CONTRACTS
from ops.fake_exchange.model import STEP_NS, KlineAgg, interval_bounds
from ops.fake_exchange.numbers import java_number, scaled_str
from tests.fake_exchange.helpers import START_MS

GENESIS_MS = START_MS - 86_400_000
START_NS = START_MS * 1_000_000


def market(seed: int = 7, count: int = 20) -> Market:
    return Market(MarketModel(make_contracts(count), seed, GENESIS_MS))


@pytest.mark.parametrize(
    ("units", "decimals", "text"),
    [(1102120, 1, "110212"), (274970, 2, "2749.7"), (2157, 5, "0.02157"), (889874, 1, "88987.4"), (7, 0, "7")],
)
def test_ws_prices_are_plain_decimals_without_trailing_zeros(units: int, decimals: int, text: str) -> None:
    assert scaled_str(units, decimals) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("78712.0", "78712.0"),
        ("3915961.5089", "3915961.5089"),
        ("13637489.5253", "1.36374895253E7"),
        ("0.0002", "2.0E-4"),
        ("115273", "115273.0"),
        ("-1", "-1.0"),
    ],
)
def test_rest_numbers_are_spelled_like_java_doubles(value: str, text: str) -> None:
    assert java_number(Decimal(value)) == text


def test_universe_has_realistic_contracts_and_is_seed_independent() -> None:
    contracts = make_contracts(700)
    symbols = [c.symbol for c in contracts]
    assert len(set(symbols)) == 700
    by_symbol = {c.symbol: c for c in contracts}
    assert by_symbol["XBTUSDTM"].tick_size == Decimal("0.1")
    assert by_symbol["XBTUSDTM"].multiplier == Decimal("0.001")
    assert by_symbol["XBTUSDM"].is_inverse and by_symbol["XBTUSDM"].multiplier == -1
    assert by_symbol["ETHUSDTM"].tick_size == Decimal("0.01")
    assert all(c.initial_ticks >= 1000 for c in contracts)
    with pytest.raises(ValueError):
        make_contracts(MAX_CONTRACTS + 1)


def test_books_are_sorted_and_not_crossed_at_every_version() -> None:
    model = market().model.symbol("ETHUSDTM")
    version = model.version_at(START_NS)
    for _ in range(300):
        book = model.book(version, 50)
        bids = [p for p, _ in book.bids]
        asks = [p for p, _ in book.asks]
        assert len(bids) == len(asks) == 50
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < asks[0]
        assert all(size > 0 for _, size in book.bids + book.asks)
        ticker = model.ticker(version)
        assert (ticker.bid_ticks, ticker.bid_size) == book.bids[0]
        assert (ticker.ask_ticks, ticker.ask_size) == book.asks[0]
        assert ticker.sequence == book.sequence
        next_version = model.next_version(version)
        assert model.sequence(next_version) > book.sequence
        version = next_version


def test_version_at_is_the_last_change_at_or_before_the_instant() -> None:
    model = market().model.symbol("SOLUSDTM")
    for step in range(START_NS // STEP_NS, START_NS // STEP_NS + 200):
        version = model.version_at(step * STEP_NS + STEP_NS - 1)
        assert model.changed(version) and version <= step
        assert all(not model.changed(k) for k in range(version + 1, step + 1))


def test_same_seed_gives_byte_identical_frames_and_another_seed_does_not() -> None:
    sub = Subscription("level2Depth50", "XBTUSDTM")
    end = START_NS + 5_000_000_000
    first = [f.text for f in market(7).frames(sub, START_NS, end)]
    assert first == [f.text for f in market(7).frames(sub, START_NS, end)]
    assert first != [f.text for f in market(8).frames(sub, START_NS, end)]


def test_ticker_frames_follow_top_of_book_changes_only() -> None:
    m = market()
    frames = m.frames(Subscription("tickerV2", "XBTUSDTM"), START_NS, START_NS + 10_000_000_000)
    assert frames
    tops = [
        tuple(json.loads(f.text)["data"][k] for k in ("bestBidPrice", "bestBidSize", "bestAskPrice", "bestAskSize"))
        for f in frames
    ]
    assert all(a != b for a, b in itertools.pairwise(tops))
    sequences = [f.sequence for f in frames]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


def test_depth_resends_unchanged_books_with_the_same_sequence_every_100ms() -> None:
    frames = market().frames(Subscription("level2Depth50", "LINKUSDTM"), START_NS, START_NS + 10_000_000_000)
    assert len(frames) == 100
    assert [f.ts for f in frames] == list(range(START_MS + 100, START_MS + 10_001, 100))
    sequences = [f.sequence for f in frames]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) < len(sequences)  # some books resent unchanged
    for a, b in itertools.pairwise(frames):
        if a.sequence == b.sequence:
            assert json.loads(a.text)["data"]["bids"] == json.loads(b.text)["data"]["bids"]


def test_depth5_is_the_top_of_depth50() -> None:
    m = market()
    d50 = m.frames(Subscription("level2Depth50", "XBTUSDTM"), START_NS, START_NS + 2_000_000_000)
    d5 = m.frames(Subscription("level2Depth5", "XBTUSDTM"), START_NS, START_NS + 2_000_000_000)
    for a, b in zip(d50, d5, strict=True):
        full, top = json.loads(a.text)["data"], json.loads(b.text)["data"]
        assert top["bids"] == full["bids"][:5] and top["asks"] == full["asks"][:5]
        assert top["sequence"] == full["sequence"]


def test_depth_top_level_equals_ticker_at_the_same_sequence() -> None:
    m = market()
    end = START_NS + 10_000_000_000
    tickers = {
        f.sequence: json.loads(f.text)["data"] for f in m.frames(Subscription("tickerV2", "ETHUSDTM"), START_NS, end)
    }
    depth = m.frames(Subscription("level2Depth50", "ETHUSDTM"), START_NS, end)
    matched = 0
    for frame in depth:
        data = json.loads(frame.text)["data"]
        ticker = tickers.get(data["sequence"])
        if ticker is not None:
            matched += 1
            assert data["bids"][0] == [ticker["bestBidPrice"], ticker["bestBidSize"]]
            assert data["asks"][0] == [ticker["bestAskPrice"], ticker["bestAskSize"]]
    assert matched > 10


def _rebuild(trades: list[tuple[int, int, int]], start_ms: int) -> KlineAgg:
    prices = [p for _, p, _ in trades]
    return KlineAgg(start_ms, prices[0], max(prices), min(prices), prices[-1], sum(s for _, _, s in trades), Decimal(0))


def test_klines_equal_candles_rebuilt_from_the_model_trades() -> None:
    model = market().model.symbol("ETHUSDTM")
    rows = model.klines(5, START_MS - 3_600_000, START_MS, START_MS, 500)
    assert rows
    contract = model.contract
    for row in rows:
        window = (row.start_ms * 1_000_000, min(row.start_ms + 300_000, START_MS + 1) * 1_000_000)
        trades = list(model.trades(*window))
        expected = _rebuild([(t.ts_ns, t.price_ticks, t.size) for t in trades], row.start_ms)
        assert (row.open, row.high, row.low, row.close, row.volume) == (
            expected.open,
            expected.high,
            expected.low,
            expected.close,
            expected.volume,
        )
        turnover = sum(
            t.size * contract.multiplier * Decimal(t.price_ticks * contract.tick_units).scaleb(-contract.price_decimals)
            for t in trades
        )
        assert row.turnover == turnover


def test_trades_take_the_best_price_of_their_instant() -> None:
    model = market().model.symbol("XBTUSDTM")
    for trade in model.trades(START_NS - 60_000_000_000, START_NS):
        bid, ask = model.best_ticks(model.version_at(trade.ts_ns))
        assert trade.price_ticks == (ask if trade.side == "buy" else bid)


def test_inverse_contract_turnover_is_in_coins() -> None:
    model = market().model.symbol("XBTUSDM")
    row = model.klines(60, None, None, START_MS, 1)[0]
    assert row.turnover < row.volume  # USD contracts / ~90,000 USD per XBT


def test_kline_paging_rules() -> None:
    model = market().model.symbol("SOLUSDTM")
    latest = model.klines(1, None, None, START_MS, 500)
    assert len(latest) == 500 and latest[-1].start_ms <= START_MS
    assert [r.start_ms for r in latest] == sorted(r.start_ms for r in latest)
    to_only = model.klines(1, None, START_MS - 3_600_000, START_MS, 500)
    assert len(to_only) == 500 and to_only[-1].start_ms <= START_MS - 3_600_000
    assert to_only[-1].start_ms > START_MS - 3_600_000 - 120_000
    from_ms = START_MS - 20 * 3_600_000
    from_only = model.klines(1, from_ms, None, START_MS, 500)
    assert len(from_only) == 500 and from_only[0].start_ms >= from_ms
    both = model.klines(1, from_ms, from_ms + 600_000, START_MS, 500)
    assert 0 < len(both) <= 11 and both == from_only[: len(both)]
    gaps = {r.start_ms for r in latest}
    assert len(gaps) == 500 and latest[-1].start_ms - latest[0].start_ms > 499 * 60_000  # empty minutes missing


def test_no_trades_before_genesis_and_no_future_candles() -> None:
    model = market().model.symbol("XBTUSDTM")
    assert model.klines(1, None, GENESIS_MS - 60_001, START_MS, 500) == []
    rows = model.klines(1440, None, None, START_MS, 500)
    assert 1 <= len(rows) <= 2 and rows[-1].start_ms <= START_MS


def test_interval_bounds_align_weeks_to_monday_and_months_to_the_calendar() -> None:
    monday = 1_789_948_800_000  # 2026-09-21 00:00 UTC, a Monday
    assert interval_bounds(10080, monday + 5_000) == (monday, monday + 7 * 86_400_000)
    start, end = interval_bounds(0, START_MS)  # 2026-09-21 (UTC)
    assert (start, end) == (1_788_220_800_000, 1_790_812_800_000)  # 2026-09-01 .. 2026-10-01


def test_batches_give_what_one_call_each_gives() -> None:
    m = market(count=20).model
    first = START_NS // STEP_NS
    for symbol in ("XBTUSDTM", "LINKUSDTM", "ULFUSDTM"):  # busy to quiet
        model = m.symbol(symbol)
        for start, stop in ((first, first + 1), (first + 3, first + 20), (first - 7, first + 2_000)):
            assert model.changes(start, stop) == [step for step in range(start, stop) if model.changed(step)]
        versions = model.changes(first, first + 500)
        tickers = {v: model.ticker(v) for v in reversed(versions)}  # backwards: the noise cache must not mind
        books = {v: model.book(v, 50) for v in reversed(versions[:50])}
        assert model.tickers(versions) == [tickers[v] for v in versions]
        assert model.books(versions[:50], 50) == [books[v] for v in versions[:50]]
        assert [model.sequence(v) for v in versions] == [tickers[v].sequence for v in versions]


def test_the_model_output_is_pinned() -> None:
    """Same seed, same bytes across versions of this code (this digest predates the batched paths)."""
    m = market(7, 20)
    digest = hashlib.sha256()
    topics = ("tickerV2:XBTUSDTM", "tickerV2:DOGEUSDTM", "level2Depth50:ETHUSDTM", "level2Depth50:XBTUSDM")
    for topic in (*topics, "level2Depth5:SOLUSDTM", "limitCandle:XBTUSDTM_1min"):
        for frame in m.frames(Subscription(*topic.split(":")), START_NS, START_NS + 120_000_000_000):
            digest.update(frame.text.encode())
    model = m.model.symbol("ETHUSDTM")
    digest.update(repr(model.book(model.version_at(START_NS), 100)).encode())
    assert digest.hexdigest() == "b39c3a0d3afd35f58c4a8500ef20491c0bff0fe3e07790ecd56c5bc177b48d6c"
