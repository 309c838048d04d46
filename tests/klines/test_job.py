"""The job's rounds against the fake's model and an in-memory transactional sink: no network, a few ms each."""

from __future__ import annotations

import asyncio

import pytest

from ops.fake_exchange import MarketModel, make_contracts
from producers.klines.errors import KlineJobError
from producers.klines.job import BackfillOptions, KlineJob
from producers.klines.progress import ProgressBar
from producers.kucoin.exceptions import UnknownSymbolError
from tests.klines.support import MINUTE_MS, MemorySink, ModelSource, blank, truth

NOW = 1_790_000_000_000 // 300_000 * 300_000 + 17_000  # 17 s into a 5-minute candle
START = NOW - 20 * 3600_000  # 1200 one-minute slots: 3 pages per 1-minute series, 1 per 5-minute one
MODEL = MarketModel(make_contracts(4), 7, NOW - 2 * 86_400_000)
SYMBOLS = tuple(c.symbol for c in MODEL.contracts[:3])


def job(source: ModelSource, sink: MemorySink, stop: asyncio.Event | None = None, **options: object) -> KlineJob:
    settings: dict[str, object] = {"symbols": SYMBOLS, "granularities": (1, 5), "start_ms": START, "settle_s": 0.0}
    settings.update(options)
    return KlineJob(BackfillOptions(**settings), source, sink, ProgressBar(None, False), stop or asyncio.Event())  # type: ignore[arg-type]


def assert_exactly_the_truth(
    sink: MemorySink, now_ms: int, granularities: tuple[int, ...] = (1, 5), in_time_order: bool = True
) -> None:
    """Every candle from START closed by ``now_ms``, once (and in time order unless ranges were run out of it)."""
    for symbol in SYMBOLS:
        for g in granularities:
            expected = truth(MODEL, symbol, g, START, now_ms // (g * MINUTE_MS) * g * MINUTE_MS, now_ms)
            published = blank(sink.series(symbol, g))
            if not in_time_order:
                published.sort(key=lambda k: k.open_time_ms)
            assert published == expected, (symbol, g)


async def test_backfill_publishes_every_closed_candle_once_in_order_fairly() -> None:
    source, sink = ModelSource(MODEL, NOW), MemorySink()
    assert await job(source, sink).run()
    assert_exactly_the_truth(sink, NOW)
    first_round = [(r.symbol, r.granularity_min) for r in source.requests[:6]]
    assert len(set(first_round)) == 6  # one page of each series before any series' second page
    assert max(k.open_time_ms + k.granularity_min * MINUTE_MS for k in sink.records) <= NOW


async def test_the_open_candle_is_never_published_and_follows_once_closed() -> None:
    source, sink = ModelSource(MODEL, NOW), MemorySink()
    await job(source, sink, granularities=(1,)).run()
    open_start = NOW - 17_000
    assert all(k.open_time_ms < open_start for k in sink.records)
    source.now_ms = NOW + 3 * MINUTE_MS
    await job(source, sink, granularities=(1,)).run()
    assert_exactly_the_truth(sink, source.now_ms, (1,))


@pytest.mark.parametrize("crash_after", [0, 1, 5, 11])
async def test_a_crash_at_any_page_then_a_restart_leaves_no_duplicate_and_no_hole(crash_after: int) -> None:
    sink = MemorySink(fail_after=crash_after)
    with pytest.raises(KlineJobError, match="simulated crash"):
        await job(ModelSource(MODEL, NOW), sink).run()
    assert sink.commits == crash_after
    sink.fail_after = None
    assert await job(ModelSource(MODEL, NOW), sink).run()
    assert_exactly_the_truth(sink, NOW)


async def test_reruns_and_overlapping_ranges_fetch_only_what_is_missing() -> None:
    sink = MemorySink()
    middle = START + 5 * 3600_000
    await job(ModelSource(MODEL, NOW), sink, start_ms=middle, end_ms=middle + 5 * 3600_000).run()
    source = ModelSource(MODEL, NOW)
    await job(source, sink).run()  # the whole range: before and after the middle part only
    assert_exactly_the_truth(sink, NOW, in_time_order=False)
    again = ModelSource(MODEL, NOW)
    await job(again, sink).run()
    assert again.requests == []


async def test_stop_ends_the_backfill_between_pages_and_a_rerun_completes() -> None:
    stop, sink = asyncio.Event(), MemorySink()
    sink.after_commit = lambda commits: stop.set() if commits == 2 else None
    assert not await job(ModelSource(MODEL, NOW), sink, stop).run()
    assert sink.commits <= 3  # the page fetched while the second one committed still lands
    sink.after_commit = None
    assert await job(ModelSource(MODEL, NOW), sink).run()
    assert_exactly_the_truth(sink, NOW)


async def test_follow_publishes_each_new_close_once() -> None:
    source, sink, stop = ModelSource(MODEL, NOW), MemorySink(), asyncio.Event()
    running = asyncio.create_task(job(source, sink, stop, granularities=(1,), follow=True, max_wait_s=0.005).run())
    for _ in range(5):
        await asyncio.sleep(0.03)
        source.now_ms += 40_000
    await asyncio.sleep(0.03)
    stop.set()
    assert await running
    assert source.now_ms - NOW == 200_000
    assert_exactly_the_truth(sink, source.now_ms, (1,))


async def test_bad_input_is_reported_not_fetched() -> None:
    with pytest.raises(KlineJobError, match="after the exchange's now"):
        await job(ModelSource(MODEL, NOW), MemorySink(), start_ms=NOW + 10 * MINUTE_MS).run()
    with pytest.raises(UnknownSymbolError, match="NOPEUSDTM"):
        await job(ModelSource(MODEL, NOW), MemorySink(), symbols=("NOPEUSDTM",)).run()
