"""Golden, alignment, lateness and gap tests of the tickerV2 bars, with the expected numbers worked by hand."""

from __future__ import annotations

import pytest

from processors.core import TickerBarProcessor, WindowSpec
from schemas.derived import LateEvent, TickerBar
from schemas.records import TickerV2

T = 1_731_665_400_000
"""2024-11-15 10:10:00 UTC, a multiple of 5 minutes (1731665400000 / 300000 = 5772218)."""


def tick(ms: int, bid: str, ask: str, seq: int, symbol: str = "XBTUSDTM") -> TickerV2:
    ns = ms * 1_000_000 + 123
    return TickerV2(symbol, seq, bid, "10", ask, "20", ns, ns + 5_000_000)


def run(processor: TickerBarProcessor, ticks: list[TickerV2]) -> list[TickerBar | LateEvent]:
    out: list[TickerBar | LateEvent] = []
    for record in ticks:
        out.extend(processor.process(record))
    return out


def test_golden_one_second_bar() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,)))  # default grace for 1 s: 2 s
    out = run(
        processor,
        [
            tick(T + 100, "100.0", "100.2", 1),  # mid 100.1, spread 0.2
            tick(T + 400, "100.1", "100.2", 2),  # mid 100.15 (high), spread 0.1
            tick(T + 700, "99.9", "100.0", 3),  # mid 99.95 (low), spread 0.1
            tick(T + 900, "100.0", "100.1", 4),  # mid 100.05 (close), spread 0.1
            tick(T + 2_999, "100.0", "100.1", 5),  # watermark T+2999 < end T+1000 + grace 2000: still open
        ],
    )
    assert out == []
    [bar] = processor.process(tick(T + 3_000, "100.0", "100.1", 6))  # watermark reaches end + grace
    assert isinstance(bar, TickerBar)
    assert (bar.symbol, bar.interval_ms, bar.bar_start_ms, bar.bar_end_ms) == ("XBTUSDTM", 1_000, T, T + 1_000)
    assert (bar.open_mid, bar.high_mid, bar.low_mid, bar.close_mid) == ("100.1", "100.15", "99.95", "100.05")
    assert (bar.close_bid_price, bar.close_ask_price) == ("100.0", "100.1")
    assert bar.spread_mean == pytest.approx((0.2 + 0.1 + 0.1 + 0.1) / 4)  # 0.125
    assert bar.spread_max == pytest.approx(0.2)
    assert (bar.update_count, bar.first_sequence, bar.last_sequence) == (4, 1, 4)
    assert bar.first_exchange_ts_ns == (T + 100) * 1_000_000 + 123
    assert bar.last_exchange_ts_ns == (T + 900) * 1_000_000 + 123


def test_mid_is_exact_text_never_float() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,), {1_000: 0}))
    run(processor, [tick(T, "88987.4", "88987.5", 1), tick(T + 1, "2.0E-4", "2.2E-4", 2, symbol="TINYUSDTM")])
    bars = processor.flush()
    assert [(b.symbol, b.close_mid) for b in bars if isinstance(b, TickerBar)] == [
        ("TINYUSDTM", "0.00021"),  # fixed point, no exponent
        ("XBTUSDTM", "88987.45"),
    ]


def test_high_low_decided_exactly_where_float_rounding_would_misorder() -> None:
    # 0.1 + 0.2 is 0.3 exactly but 0.30000000000000004 in float; 1E-17 + 0.3 is 0.30000000000000001 exactly
    # but 0.3 in float. Float keys alone would keep the first quote as the high; exact decimals do not.
    processor = TickerBarProcessor(WindowSpec((1_000,)))
    run(processor, [tick(T, "0.1", "0.2", 1), tick(T + 1, "0.00000000000000001", "0.3", 2)])
    [bar] = processor.flush()
    assert isinstance(bar, TickerBar)
    assert bar.high_mid == "0.150000000000000005"
    assert bar.low_mid == "0.15"


def test_equal_mids_in_other_spellings_keep_the_first_extreme() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,)))
    run(processor, [tick(T, "0.1", "0.2", 1), tick(T + 1, "0.15", "0.15", 2)])  # both mids are 0.15
    [bar] = processor.flush()
    assert isinstance(bar, TickerBar)
    assert (bar.high_mid, bar.low_mid, bar.close_mid) == ("0.15", "0.15", "0.15")
    assert bar.update_count == 2


def test_five_minute_bars_align_to_the_epoch() -> None:
    processor = TickerBarProcessor(WindowSpec((300_000,), {300_000: 0}))
    out = run(
        processor,
        [
            tick(T - 1, "1", "3", 1),  # last ms of the bar before T
            tick(T, "2", "4", 2),  # first ms of the bar at T
            tick(T + 299_999, "3", "5", 3),
            tick(T + 300_000, "4", "6", 4),  # closes [T, T+5m) at once: grace 0
        ],
    )
    assert [(b.bar_start_ms, b.bar_end_ms, b.update_count) for b in out if isinstance(b, TickerBar)] == [
        (T - 300_000, T, 1),
        (T, T + 300_000, 2),
    ]


def test_event_within_grace_joins_its_bar_in_event_time_order() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,)))
    run(processor, [tick(T + 500, "100", "102", 1), tick(T + 2_500, "100", "102", 3)])
    # Arrives after an event of a later bar, but watermark T+2500 < T+1000+2000: within grace.
    assert processor.process(tick(T + 100, "110", "112", 2)) == []
    [bar] = processor.process(tick(T + 3_000, "100", "102", 4))
    assert isinstance(bar, TickerBar)
    assert (bar.open_mid, bar.high_mid, bar.close_mid, bar.update_count) == ("111", "111", "101", 2)
    assert (bar.first_sequence, bar.last_sequence) == (2, 1)  # by exchange time, not arrival


def test_event_past_grace_is_a_late_event_not_a_silent_drop() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000, 60_000)))
    run(processor, [tick(T + 500, "100", "102", 1), tick(T + 3_000, "100", "102", 2)])  # closes 1 s bar T
    late = tick(T + 999, "90", "92", 3)
    out = processor.process(late)
    # Late for the emitted 1 s bar only: the 1 m bar [T, T+60 s) is still open and takes it.
    assert out == [
        LateEvent(
            processor="ticker_bars",
            reason="late",
            symbol="XBTUSDTM",
            interval_ms=1_000,
            bar_start_ms=T,
            bar_end_ms=T + 1_000,
            event_ts_ns=late.exchange_ts_ns,
            watermark_ms=T + 3_000,
            sequence=3,
            receive_ts_ns=late.receive_ts_ns,
        )
    ]
    assert processor.late_counts() == {("XBTUSDTM", 1_000): 1, ("XBTUSDTM", 60_000): 0}
    minute = [b for b in processor.flush() if isinstance(b, TickerBar) and b.interval_ms == 60_000]
    assert minute[0].low_mid == "91"


def test_late_also_for_a_bar_that_never_existed() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,)))
    run(processor, [tick(T + 10_000, "1", "3", 1)])
    [late] = processor.process(tick(T + 5_000, "1", "3", 2))  # bar [T+5s, T+6s) ended 4 s before watermark
    assert isinstance(late, LateEvent) and late.bar_start_ms == T + 5_000


def test_no_bar_for_an_interval_without_events() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,), {1_000: 0}))
    out = run(processor, [tick(T + 100, "1", "3", 1), tick(T + 3_500, "1", "5", 2)])
    assert [b.bar_start_ms for b in out if isinstance(b, TickerBar)] == [T]


def test_emit_empty_carries_the_previous_close_forward() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,), {1_000: 0}, emit_empty=True))
    out = run(processor, [tick(T + 100, "1", "3", 7), tick(T + 3_500, "1", "5", 8)])
    bars = [b for b in out if isinstance(b, TickerBar)]
    assert [(b.bar_start_ms, b.update_count) for b in bars] == [(T, 1), (T + 1_000, 0), (T + 2_000, 0)]
    carried = bars[1]
    assert (carried.open_mid, carried.high_mid, carried.low_mid, carried.close_mid) == ("2", "2", "2", "2")
    assert (carried.close_bid_price, carried.close_ask_price) == ("1", "3")
    assert (carried.spread_mean, carried.spread_max) == (2.0, 2.0)
    assert (carried.first_sequence, carried.last_sequence) == (7, 7)
    # Watermark T+3500: the bar [T+3 s, T+4 s) holding tick 8 is still open; flush emits it, no trailing fill.
    assert [(b.bar_start_ms, b.update_count) for b in processor.flush() if isinstance(b, TickerBar)] == [(T + 3_000, 1)]


def test_watermark_is_per_symbol() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000,), {1_000: 0}))
    run(processor, [tick(T, "1", "3", 1, symbol="AAAUSDTM")])
    assert processor.process(tick(T + 60_000, "1", "3", 2, symbol="BBBUSDTM")) == []  # A's bar stays open
    [bar] = processor.process(tick(T + 1_000, "1", "3", 3, symbol="AAAUSDTM"))
    assert isinstance(bar, TickerBar) and bar.symbol == "AAAUSDTM"


def test_outputs_of_one_call_are_ordered_by_bar_end_then_interval() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000, 60_000), {1_000: 1_000, 60_000: 0}))
    run(processor, [tick(T + 58_500, "1", "3", 1), tick(T + 59_500, "1", "3", 2)])
    out = processor.process(tick(T + 61_000, "1", "3", 3))
    # Closes 1 s bars ending at T+59 s and T+60 s (grace 1 s) and the minute ending at T+60 s (grace 0).
    assert [(b.bar_end_ms, b.interval_ms) for b in out if isinstance(b, TickerBar)] == [
        (T + 59_000, 1_000),
        (T + 60_000, 1_000),
        (T + 60_000, 60_000),
    ]


def test_flush_orders_by_end_symbol_interval_and_later_events_are_late() -> None:
    processor = TickerBarProcessor(WindowSpec((1_000, 60_000)))
    run(processor, [tick(T + 5, "1", "3", 1, symbol="ZZZUSDTM"), tick(T + 5, "1", "3", 1, symbol="AAAUSDTM")])
    out = processor.flush()
    assert [(b.bar_end_ms, b.symbol, b.interval_ms) for b in out if isinstance(b, TickerBar)] == [
        (T + 1_000, "AAAUSDTM", 1_000),
        (T + 1_000, "ZZZUSDTM", 1_000),
        (T + 60_000, "AAAUSDTM", 60_000),
        (T + 60_000, "ZZZUSDTM", 60_000),
    ]
    assert all(isinstance(o, LateEvent) for o in processor.process(tick(T + 6, "1", "3", 2, symbol="AAAUSDTM")))
    assert processor.flush() == []
