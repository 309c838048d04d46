"""Golden and alignment tests of the 1-minute kline roll-up, with the expected numbers worked by hand."""

from __future__ import annotations

import pytest

from processors.core import KlineRollupProcessor, WindowSpec, kline_windows
from schemas.derived import KlineBar, LateEvent
from schemas.records import Kline

MIDNIGHT = 1_731_888_000_000
"""2024-11-18 00:00:00 UTC (1731888000000 / 86400000 = 20045 whole days)."""
MIN = 60_000


def candle(
    open_ms: int,
    o: str,
    h: str,
    low: str,
    c: str,
    volume: str = "1",
    turnover: str | None = "10",
    symbol: str = "XBTUSDTM",
    granularity: int = 1,
) -> Kline:
    return Kline(symbol, granularity, open_ms, o, h, low, c, volume, turnover, 0)


def bars(out: list[KlineBar | LateEvent]) -> list[KlineBar]:
    return [b for b in out if isinstance(b, KlineBar)]


def test_golden_five_minutes() -> None:
    processor = KlineRollupProcessor(kline_windows((5,)))
    start = MIDNIGHT + 10 * MIN
    out: list[KlineBar | LateEvent] = []
    for record in [
        candle(start, "78712.0", "78720.5", "78700.0", "78710.0", "21.0", "1.36374895253E7"),
        candle(start + MIN, "78710.0", "78790.0", "78705.0", "78780.0", "0.5", "100.0001"),
        candle(start + 2 * MIN, "78780.0", "78781.0", "78650.0", "78651.0", "3", "7"),
        candle(start + 3 * MIN, "78651.0", "78700.0", "78651.0", "78690.0", "4", "8"),
    ]:
        out.extend(processor.process(record))
    assert out == []  # watermark start+4m: the bar [start, start+5m) is not covered yet
    [bar] = processor.process(candle(start + 4 * MIN, "78690.0", "78695.0", "78680.0", "78688.8", "1", "2"))
    assert bar == KlineBar(
        symbol="XBTUSDTM",
        granularity_min=5,
        bar_start_ms=start,
        bar_end_ms=start + 5 * MIN,
        open="78712.0",  # minute 0's open, text kept
        high="78790.0",  # minute 1
        low="78650.0",  # minute 2
        close="78688.8",  # minute 4's close
        volume="29.5",  # 21.0 + 0.5 + 3 + 4 + 1
        turnover="13637606.5254",  # 13637489.5253 + 100.0001 + 7 + 8 + 2 = 13637589.5254 + 17, fixed point
        candle_count=5,
    )


def test_missing_minutes_roll_up_what_exists_and_close_on_the_next_bar() -> None:
    processor = KlineRollupProcessor(kline_windows((5,)))
    assert processor.process(candle(MIDNIGHT, "1", "2", "1", "2")) == []
    assert processor.process(candle(MIDNIGHT + 3 * MIN, "2", "3", "1", "3")) == []  # no trades in minutes 1, 2, 4
    [bar] = bars(processor.process(candle(MIDNIGHT + 6 * MIN, "3", "3", "3", "3")))
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.candle_count) == ("1", "3", "1", "3", "2", 2)


def test_day_bar_starts_at_midnight_utc_and_rolls_over() -> None:
    processor = KlineRollupProcessor(kline_windows((60, 1440)))
    out: list[KlineBar | LateEvent] = []
    for record in [
        candle(MIDNIGHT - 2 * MIN, "10", "11", "9", "10", "2", "20"),  # 23:58
        candle(MIDNIGHT - MIN, "10", "12", "10", "12", "3", "30"),  # 23:59 covers up to midnight: closes both
        candle(MIDNIGHT, "12", "12", "8", "8", "5", "50"),  # 00:00 next day
        candle(MIDNIGHT + MIN, "8", "9", "7", "9", "1", "10"),
    ]:
        out.extend(processor.process(record))
    closed = [(b.granularity_min, b.bar_start_ms, b.open, b.close, b.volume, b.candle_count) for b in bars(out)]
    assert closed == [
        (60, MIDNIGHT - 60 * MIN, "10", "12", "5", 2),  # 23:00-24:00, ordered before the day: interval
        (1440, MIDNIGHT - 1440 * MIN, "10", "12", "5", 2),
    ]
    flushed = [(b.granularity_min, b.bar_start_ms, b.high, b.low, b.volume) for b in bars(processor.flush())]
    assert flushed == [(60, MIDNIGHT, "12", "7", "6"), (1440, MIDNIGHT, "12", "7", "6")]


def test_four_hour_bars_start_at_multiples_of_four_hours_utc() -> None:
    processor = KlineRollupProcessor(kline_windows((240,)))
    closed = bars(processor.process(candle(MIDNIGHT + 4 * 60 * MIN - MIN, "1", "1", "1", "1")))  # 03:59
    processor.process(candle(MIDNIGHT + 4 * 60 * MIN, "2", "2", "2", "2"))  # 04:00
    closed += bars(processor.flush())
    assert [b.bar_start_ms for b in closed] == [MIDNIGHT, MIDNIGHT + 4 * 60 * MIN]


def test_a_minute_seen_twice_is_a_duplicate_late_event_and_counted_once() -> None:
    processor = KlineRollupProcessor(kline_windows((5, 15)))
    first = candle(MIDNIGHT + MIN, "1", "2", "1", "2", "7", "70")
    processor.process(first)
    out = processor.process(first)
    assert [(o.reason, o.interval_ms, o.sequence) for o in out if isinstance(o, LateEvent)] == [
        ("duplicate", 5 * MIN, None),
        ("duplicate", 15 * MIN, None),
    ]
    assert [(b.volume, b.candle_count) for b in bars(processor.flush())] == [("7", 1), ("7", 1)]


def test_a_candle_after_its_bar_closed_is_late() -> None:
    processor = KlineRollupProcessor(kline_windows((5,)))
    processor.process(candle(MIDNIGHT + 4 * MIN, "1", "1", "1", "1"))  # covers to 00:05: closes [00:00, 00:05)
    [late] = processor.process(candle(MIDNIGHT + 2 * MIN, "1", "1", "1", "1"))
    assert isinstance(late, LateEvent)
    assert (late.reason, late.bar_start_ms, late.watermark_ms) == ("late", MIDNIGHT, MIDNIGHT + 5 * MIN)
    assert late.event_ts_ns == (MIDNIGHT + 2 * MIN) * 1_000_000


def test_turnover_is_null_when_any_candle_lacks_it() -> None:
    processor = KlineRollupProcessor(kline_windows((5,)))
    processor.process(candle(MIDNIGHT, "1", "1", "1", "1", turnover="5"))
    processor.process(candle(MIDNIGHT + MIN, "1", "1", "1", "1", turnover=None))
    [bar] = bars(processor.flush())
    assert bar.turnover is None


def test_other_granularities_on_the_input_are_ignored() -> None:
    processor = KlineRollupProcessor(kline_windows((5,)))
    assert processor.process(candle(MIDNIGHT, "1", "1", "1", "1", granularity=5)) == []
    assert processor.flush() == []


def test_emit_empty_fills_a_gap_with_the_previous_close() -> None:
    processor = KlineRollupProcessor(kline_windows((5,), emit_empty=True))
    processor.process(candle(MIDNIGHT, "1", "4", "1", "3", "2", "20"))
    out = bars(processor.process(candle(MIDNIGHT + 12 * MIN, "5", "5", "5", "5")))  # covers to 00:13
    assert [(b.bar_start_ms, b.candle_count) for b in out] == [(MIDNIGHT, 1), (MIDNIGHT + 5 * MIN, 0)]
    gap = out[1]
    assert (gap.open, gap.high, gap.low, gap.close, gap.volume, gap.turnover) == ("3", "3", "3", "3", "0", "0")


@pytest.mark.parametrize("granularities", [(7,), (10080,), (1,)])
def test_granularities_must_divide_one_day(granularities: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="divide"):
        kline_windows(granularities)


def test_a_hand_made_spec_must_be_whole_minutes() -> None:
    with pytest.raises(ValueError, match="whole minutes"):
        KlineRollupProcessor(WindowSpec((90_000,)))
