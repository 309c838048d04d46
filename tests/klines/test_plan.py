"""The pure planning core: coverage arithmetic, checkpoint values, per-series paging, closing times."""

from __future__ import annotations

import random

import pytest

from producers.klines.plan import Coverage, SeriesKey, SeriesPlan, closed_end, seconds_until_next_close
from producers.kucoin.klines import KlineRequest
from schemas.records import Kline

M = 60_000
T0 = 1_790_000_040_000 // (5 * M) * (5 * M)  # a 5-minute boundary


def candle(start_ms: int, granularity: int = 1, symbol: str = "XBTUSDTM") -> Kline:
    return Kline(symbol, granularity, start_ms, "1", "2", "0.5", "1.5", "10", "15", 0)


def test_series_key_round_trips_and_rejects_junk() -> None:
    key = SeriesKey("XBTUSDTM", 15)
    assert key.text() == "XBTUSDTM|15"
    assert SeriesKey.parse(key.text()) == key
    for junk in ("XBTUSDTM", "|5", "XBTUSDTM|", "XBTUSDTM|x"):
        with pytest.raises(ValueError, match="SYMBOL"):
            SeriesKey.parse(junk)


def test_coverage_merges_overlapping_and_adjacent_intervals_with_aligned_bounds() -> None:
    coverage = Coverage(1).add(T0, T0 + 10 * M).add(T0 + 20 * M, T0 + 30 * M)
    assert coverage.intervals == ((T0, T0 + 10 * M), (T0 + 20 * M, T0 + 30 * M))
    assert coverage.add(T0 + 10 * M, T0 + 20 * M).intervals == ((T0, T0 + 30 * M),)
    assert coverage.add(T0 + 5 * M, T0 + 25 * M).intervals == ((T0, T0 + 30 * M),)
    # unaligned bounds mean "the candle starts inside": 00:00:30 .. 00:02:10 holds the starts 00:01 and 00:02
    assert Coverage(1).add(T0 + 30_000, T0 + 2 * M + 10_000).intervals == ((T0 + M, T0 + 3 * M),)
    assert Coverage(1).add(T0, T0).intervals == ()


def test_missing_is_the_complement_inside_the_range() -> None:
    coverage = Coverage(1).add(T0 + 10 * M, T0 + 20 * M).add(T0 + 30 * M, T0 + 40 * M)
    assert coverage.missing(T0, T0 + 50 * M) == (
        (T0, T0 + 10 * M),
        (T0 + 20 * M, T0 + 30 * M),
        (T0 + 40 * M, T0 + 50 * M),
    )
    assert coverage.missing(T0 + 12 * M, T0 + 18 * M) == ()
    assert coverage.missing(T0 + 15 * M, T0 + 35 * M) == ((T0 + 20 * M, T0 + 30 * M),)
    assert Coverage(1).missing(T0, T0 + 3 * M) == ((T0, T0 + 3 * M),)


def test_coverage_matches_a_set_model_under_random_operations() -> None:
    rng = random.Random(4)
    for _ in range(200):
        coverage, starts = Coverage(5), set[int]()
        for _ in range(rng.randrange(1, 8)):
            a, b = sorted(rng.randrange(0, 60) for _ in range(2))
            coverage = coverage.add(T0 + a * M, T0 + b * M)
            starts |= {s for s in range(T0, T0 + 60 * M, 5 * M) if T0 + a * M <= s < T0 + b * M}
        gaps = coverage.missing(T0, T0 + 60 * M)
        missing = {s for a, b in gaps for s in range(a, b, 5 * M)}
        assert missing == set(range(T0, T0 + 60 * M, 5 * M)) - starts
        assert all(b < c for (_, b), (c, _) in zip(coverage.intervals, coverage.intervals[1:], strict=False))


def test_checkpoint_value_round_trips_and_rejects_foreign_values() -> None:
    coverage = Coverage(60).add(T0 // (60 * M) * 60 * M, T0 // (60 * M) * 60 * M + 3600 * M)
    assert Coverage.decode(60, coverage.encode()) == coverage
    assert coverage.encode().startswith(b'{"covered": [[')
    with pytest.raises(ValueError, match="bad checkpoint"):
        Coverage.decode(60, b"123")


def test_series_plan_fetches_only_the_gaps_and_grows_its_coverage() -> None:
    key = SeriesKey("XBTUSDTM", 1)
    plan = SeriesPlan.create(key, Coverage(1).add(T0 + 100 * M, T0 + 200 * M), T0, T0 + 1000 * M)
    assert plan.slots() == 900 and plan.pages() == 3  # [0, 100) one page, [200, 1000) two pages
    requests = []
    while (request := plan.next_request()) is not None:
        requests.append(request)
        plan, published = plan.advance(request, [candle(request.from_ms)])
        assert [k.open_time_ms for k in published] == [request.from_ms]
    assert [(r.from_ms - T0) // M for r in requests] == [0, 200, 700]
    assert [(r.to_ms + 1 - T0) // M for r in requests] == [100, 700, 1000]
    assert plan.done and plan.coverage.intervals == ((T0, T0 + 1000 * M),)


def test_a_fully_covered_range_plans_nothing() -> None:
    plan = SeriesPlan.create(SeriesKey("XBTUSDTM", 1), Coverage(1).add(T0, T0 + 10 * M), T0, T0 + 10 * M)
    assert plan.done and plan.next_request() is None and plan.slots() == 0


def test_advance_refuses_a_request_that_is_not_next() -> None:
    plan = SeriesPlan.create(SeriesKey("XBTUSDTM", 1), Coverage(1), T0, T0 + 10 * M)
    with pytest.raises(ValueError, match="next request"):
        plan.advance(KlineRequest("XBTUSDTM", 1, T0 + M, T0 + 5 * M), [])


@pytest.mark.parametrize("granularity", [1, 5, 60, 1440, 10080])
def test_closed_end_is_the_start_of_the_open_candle(granularity: int) -> None:
    step = granularity * M
    now = T0 + 123_456_789
    end = closed_end(now, granularity)
    assert end <= now < end + step  # the candle starting at `end` is still open...
    assert end - step + step <= now  # ...and the one before it has closed
    assert closed_end(end, granularity) == end  # exactly at a close, that candle counts as closed
    if granularity == 10080:
        assert (end // 86_400_000 + 3) % 7 == 0  # weekly candles start on Mondays (1970-01-05 was one)


def test_live_sleeps_until_the_next_close_of_any_granularity_capped() -> None:
    now = T0 + 90_000  # 1m30s past a 5-minute boundary
    assert seconds_until_next_close(now, [5, 1], 60) == 30.0
    assert seconds_until_next_close(now, [5], 600) == 210.0
    assert seconds_until_next_close(now, [5], 1.5) == 1.5
    assert seconds_until_next_close(T0, [1], 60) == 60.0
