"""The kline job: backfill ``[start, end)`` for every (symbol, granularity), then optionally follow live.

A *round* fetches, for each series, the candle starts it has not committed yet up to the last closed candle, one
page per series in turn (fair under the shared rate limit, which the REST client enforces). Each page is
committed to Kafka in its own transaction while the next page is being fetched, so Kafka latency hides behind
REST latency; at most one commit is in flight, which keeps pages in order. Live mode is the same round repeated
after every candle close: the plans come from the committed coverage, so nothing is fetched twice and an
interval without trades is simply skipped, never waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from producers.klines.errors import KlineJobError
from producers.klines.plan import Coverage, SeriesKey, SeriesPlan, closed_end, seconds_until_next_close
from producers.klines.progress import Progress, ProgressBar
from producers.kucoin.contracts import Contract, select_symbols
from producers.kucoin.klines import KlineRequest
from schemas.records import Kline

__all__ = ["BackfillOptions", "KlineJob", "KlineSink", "KlineSource"]


class KlineSource(Protocol):
    """The REST calls the job makes (:class:`~producers.rest_client.KucoinRestClient`)."""

    async def contracts(self) -> tuple[Contract, ...]: ...

    async def server_time_ms(self) -> int: ...

    async def klines(self, request: KlineRequest) -> tuple[tuple[Kline, ...], int]: ...


class KlineSink(Protocol):
    """Where pages go (:class:`~producers.klines.kafka.TransactionalKlineWriter`); blocking calls."""

    def start(self) -> dict[SeriesKey, Coverage]: ...

    def commit_page(self, key: SeriesKey, coverage: Coverage, candles: Sequence[Kline]) -> None: ...


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    """What to fetch. ``end_ms`` None: up to now; ``settle_s``: how long after a close a candle is final."""

    symbols: tuple[str, ...]
    granularities: tuple[int, ...]
    start_ms: int
    end_ms: int | None = None
    follow: bool = False
    settle_s: float = 2.0
    max_wait_s: float = 60.0


class KlineJob:
    """Runs :class:`BackfillOptions` against a source and a sink until done, or forever with ``follow``."""

    def __init__(
        self,
        options: BackfillOptions,
        source: KlineSource,
        sink: KlineSink,
        bar: ProgressBar,
        stop: asyncio.Event,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options = options
        self._source = source
        self._sink = sink
        self._bar = bar
        self._stop = stop
        self._monotonic = monotonic
        self._coverage: dict[SeriesKey, Coverage] = {}
        self._progress = Progress(0, 0, 0.0)

    async def run(self) -> bool:
        """Backfill, then follow if asked; ``False`` when stopped before the backfill was complete."""
        options = self._options
        symbols = select_symbols(await self._source.contracts(), options.symbols)
        self._coverage = await asyncio.to_thread(self._sink.start)
        settled = await self._settled_now()
        if options.start_ms > settled:
            raise KlineJobError(f"--start {_iso(options.start_ms)} is after the exchange's now ({_iso(settled)})")
        keys = [SeriesKey(symbol, g) for symbol in symbols for g in options.granularities]
        complete = await self._round(keys, settled, options.end_ms)
        if self._progress.pages_total:
            self._bar.update(self._progress, self._monotonic(), final=True)
        else:
            self._bar.line("klines: nothing to fetch, every closed candle of the range is already in Kafka")
        while complete and options.follow and not self._stop.is_set():
            if await self._sleep(seconds_until_next_close(settled, options.granularities, options.max_wait_s)):
                break
            settled = await self._settled_now()
            await self._round(keys, settled, None)
            if self._progress.pages_done:
                self._bar.line(f"live {_iso(settled)}: {self._progress.candles} candles closed since the last round")
        return complete

    async def _settled_now(self) -> int:
        """The exchange's time minus the settle delay: candles closed by then are final."""
        return await self._source.server_time_ms() - round(self._options.settle_s * 1000)

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless stopped first; ``True`` when stopped."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _round(self, keys: Sequence[SeriesKey], settled_ms: int, end_ms: int | None) -> bool:
        """Fetch and commit every uncovered candle start from ``start`` that closed by ``settled_ms`` (and, if
        given, starts before ``end_ms``); ``False`` if stopped early."""
        plans = []
        for key in keys:
            end = closed_end(settled_ms, key.granularity_min)
            coverage = self._coverage.get(key, Coverage(key.granularity_min))
            plans.append(
                SeriesPlan.create(key, coverage, self._options.start_ms, end if end_ms is None else min(end, end_ms))
            )
        queue = deque(plan for plan in plans if not plan.done)
        self._progress = Progress(sum(p.slots() for p in queue), sum(p.pages() for p in queue), self._monotonic())
        in_flight: asyncio.Task[None] | None = None
        try:
            while queue and not self._stop.is_set():
                plan = queue.popleft()
                request = plan.next_request()
                assert request is not None  # a plan in the queue is not done
                page, _ = await self._source.klines(request)
                advanced, candles = plan.advance(request, page)
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.create_task(self._commit(advanced, candles, plan.slots() - advanced.slots()))
                if not advanced.done:
                    queue.append(advanced)
        finally:
            if in_flight is not None:
                await in_flight
        return not queue

    async def _commit(self, plan: SeriesPlan, candles: tuple[Kline, ...], slots: int) -> None:
        await asyncio.to_thread(self._sink.commit_page, plan.key, plan.coverage, candles)
        self._coverage[plan.key] = plan.coverage
        self._progress = self._progress.page_committed(slots, len(candles))
        self._bar.update(self._progress, self._monotonic())


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
