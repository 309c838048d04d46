"""Kline rows, the paging plan over a time range, and closed candles."""

from __future__ import annotations

import pytest

from producers.kucoin.exceptions import ResponseFormatError
from producers.kucoin.klines import MAX_ROWS_PER_PAGE, KlinePlan, KlineRequest, closed_klines, parse_kline_rows
from producers.kucoin.lossless import loads
from schemas.records import Kline

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_788_242_400_000  # an hour boundary


def kline(open_ms: int, granularity: int = 1) -> Kline:
    return Kline("XBTUSDTM", granularity, open_ms, "1", "2", "0.5", "1.5", "10", None, 0)


def test_rest_row_column_order() -> None:
    rows = loads(b"[[1788242400000,79140.8,79150,78712.0,78712.0,49623,1.36374895253E7],[1,1,2,0.5,1.5,7]]")
    first, second = parse_kline_rows(rows, "XBTUSDTM", 60, 5)
    assert first == Kline(
        "XBTUSDTM", 60, 1788242400000, "79140.8", "79150", "78712.0", "78712.0", "49623", "1.36374895253E7", 5
    )
    assert (second.high, second.low, second.close, second.turnover) == ("2", "0.5", "1.5", None)


@pytest.mark.parametrize(
    "data",
    [
        {"a": 1},
        [[1, 2, 3]],
        [["1", 1, 1, 1, 1, 1]],
        [[1, 1, 1, 1, 1, 1, 1, 1]],
        [[1, "x", 1, 1, 1, 1]],
        [[1, -1, 1, 1, 1, 1]],
    ],
)
def test_bad_rows(data: object) -> None:
    with pytest.raises(ResponseFormatError):
        parse_kline_rows(data, "A", 1, 0)


def test_unknown_granularity() -> None:
    with pytest.raises(ValueError):
        parse_kline_rows([], "A", 2, 0)
    with pytest.raises(ValueError):
        KlinePlan.create("A", 3, 0, 1)


def run(plan: KlinePlan, exchange: list[Kline]) -> tuple[list[KlineRequest], list[Kline]]:
    """Drive a plan against a fake exchange holding ``exchange`` (inclusive ``to``, at most 500 rows a page)."""
    requests: list[KlineRequest] = []
    fetched: list[Kline] = []
    while (request := plan.next_request()) is not None:
        requests.append(request)
        assert len(requests) < 10_000
        page = [k for k in exchange if request.from_ms <= k.open_time_ms <= request.to_ms][:MAX_ROWS_PER_PAGE]
        plan, kept = plan.advance(request, page)
        fetched += kept
    return requests, fetched


def test_empty_and_inverted_ranges_need_no_request() -> None:
    assert KlinePlan.create("A", 1, T0, T0).next_request() is None
    assert KlinePlan.create("A", 1, T0 + MIN, T0).next_request() is None
    assert KlinePlan.create("A", 1, T0 + 1, T0 + MIN).next_request() is None  # no candle starts inside


def test_exactly_500_rows_is_one_page() -> None:
    exchange = [kline(T0 + i * MIN) for i in range(500)]
    requests, fetched = run(KlinePlan.create("XBTUSDTM", 1, T0, T0 + 500 * MIN), exchange)
    assert requests == [KlineRequest("XBTUSDTM", 1, T0, T0 + 500 * MIN - 1)]
    assert requests[0].params() == {"symbol": "XBTUSDTM", "granularity": 1, "from": T0, "to": T0 + 500 * MIN - 1}
    assert fetched == exchange


def test_501_rows_take_two_pages() -> None:
    exchange = [kline(T0 + i * MIN) for i in range(501)]
    requests, fetched = run(KlinePlan.create("A", 1, T0, T0 + 501 * MIN), exchange)
    assert [(r.from_ms, r.to_ms) for r in requests] == [(T0, T0 + 500 * MIN - 1), (T0 + 500 * MIN, T0 + 501 * MIN - 1)]
    assert fetched == exchange


def test_gaps_and_empty_pages_are_passed_and_the_plan_terminates() -> None:
    exchange = [kline(T0 + i * MIN) for i in range(3000) if not 400 <= i < 1700 and i % 7]
    requests, fetched = run(KlinePlan.create("A", 1, T0, T0 + 3000 * MIN), exchange)
    assert len(requests) == 6  # pages 2 and 3 are empty
    assert fetched == exchange


def test_unaligned_start_and_end() -> None:
    exchange = [kline(T0 + i * MIN) for i in range(10)]
    requests, fetched = run(KlinePlan.create("A", 1, T0 + 30_000, T0 + 5 * MIN + 1), exchange)
    assert requests == [KlineRequest("A", 1, T0 + MIN, T0 + 5 * MIN)]
    assert [k.open_time_ms for k in fetched] == [T0 + i * MIN for i in range(1, 6)]


def test_server_that_cuts_a_page_short_is_paged_past() -> None:
    exchange = [kline(T0 + i * MIN) for i in range(1200)]
    assert run(KlinePlan.create("A", 1, T0, T0 + 1200 * MIN), exchange)[1] == exchange
    # an exchange answering inclusive windows of 501 starts with 500 rows: continue after the last row
    plan = KlinePlan.create("A", 1, T0, T0 + 1200 * MIN)
    request = plan.next_request()
    assert request is not None
    cut = exchange[:499] + exchange[499:500]
    plan, kept = plan.advance(request, cut)
    assert plan.cursor_ms == T0 + 500 * MIN
    assert kept == tuple(cut)


def test_rows_outside_the_window_are_dropped_and_duplicates_merged() -> None:
    plan = KlinePlan.create("A", 1, T0, T0 + 10 * MIN)
    request = plan.next_request()
    assert request is not None
    page = [kline(T0 - MIN), kline(T0 + MIN), kline(T0 + MIN), kline(T0), kline(T0 + 10 * MIN)]
    plan, kept = plan.advance(request, page)
    assert [k.open_time_ms for k in kept] == [T0, T0 + MIN]
    assert plan.done


def test_advance_checks_the_request() -> None:
    plan = KlinePlan.create("A", 1, T0, T0 + 10 * MIN)
    with pytest.raises(ValueError):
        plan.advance(KlineRequest("A", 1, T0 + MIN, T0 + 10 * MIN - 1), [])


def test_resume_after_stored_candles() -> None:
    plan = KlinePlan.create("A", 60, T0, T0 + 10 * HOUR).resume_after(T0 + 3 * HOUR)
    assert plan.next_request() == KlineRequest("A", 60, T0 + 4 * HOUR, T0 + 10 * HOUR - 1)
    assert plan.resume_after(T0 - HOUR).cursor_ms == T0 + 4 * HOUR


def test_weekly_candles_start_on_monday() -> None:
    monday = 1653868800000  # 2022-05-30, the legacy weekly candle in the captures
    plan = KlinePlan.create("A", 10080, monday - 3 * 24 * HOUR, monday + 1)
    assert plan.next_request() == KlineRequest("A", 10080, monday, monday)


@pytest.mark.parametrize(("granularity", "step"), [(1, MIN), (15, 15 * MIN), (1440, 24 * HOUR)])
def test_closed_candles(granularity: int, step: int) -> None:
    candles = [kline(T0, granularity), kline(T0 + step, granularity)]
    assert closed_klines(candles, T0 + step - 1) == ()
    assert closed_klines(candles, T0 + step) == (candles[0],)
    assert closed_klines(candles, T0 + 2 * step) == tuple(candles)
