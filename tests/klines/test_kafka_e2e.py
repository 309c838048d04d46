"""The kline job against the fake exchange and the real broker and registry: what a plain Avro consumer reads
back (read_committed) must be the fake's ground truth exactly, through reruns, kill -9, rate limits and live mode.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaException, Producer

from ops.fake_exchange import FakeExchange, FakeExchangeConfig
from ops.stack.local import Endpoints
from producers.klines.app import KlineTargets, run_klines
from producers.klines.job import BackfillOptions
from producers.klines.kafka import TransactionalKlineWriter, ensure_kline_topics
from producers.klines.plan import Coverage, SeriesKey
from producers.klines.progress import ProgressBar
from producers.metrics import ProducerMetrics
from schemas.catalog import by_name
from schemas.records import Kline
from schemas.registry import codec_for, registry_client
from tests.klines.support import MINUTE_MS, blank, committed_coverage, kafka_klines, series_of, truth
from tests.support.kafka import read_all, unique_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START_MS = 1_790_000_000_000 // 300_000 * 300_000 + 17_000  # the fake's now: 17 s into a 5-minute candle
DAY_MS = 86_400_000


@asynccontextmanager
async def fake(**overrides: Any) -> AsyncIterator[FakeExchange]:
    settings: dict[str, Any] = {"seed": 7, "symbols": 4, "start_ms": START_MS, "speed": 0.0, "history_ms": 2 * DAY_MS}
    settings.update(overrides)
    async with FakeExchange(FakeExchangeConfig(**settings)) as fx:
        yield fx


def targets(services: Endpoints, fx: FakeExchange, topic: str) -> KlineTargets:
    return KlineTargets(fx.rest_url, services.bootstrap_servers, services.schema_registry_url, topic)


async def run(options: BackfillOptions, where: KlineTargets, metrics: ProducerMetrics | None = None) -> bool:
    return await run_klines(options, where, metrics or ProducerMetrics(), asyncio.Event(), ProgressBar(None, False))


def assert_topic_is_the_truth(
    services: Endpoints,
    fx: FakeExchange,
    topic: str,
    symbols: tuple[str, ...],
    granularities: tuple[int, ...],
    start_ms: int,
    now_ms: int,
) -> int:
    """Every closed candle from ``start_ms`` to ``now_ms`` once, in time order per series; returns how many."""
    records = kafka_klines(services.bootstrap_servers, services.schema_registry_url, topic)
    assert set(records) == set(symbols)
    total = 0
    for symbol in symbols:
        for g in granularities:
            step = g * MINUTE_MS
            expected = truth(fx.market.model, symbol, g, start_ms, now_ms // step * step, now_ms)
            published = series_of(records, symbol, g)
            assert blank(published) == expected, (symbol, g)
            total += len(expected)
    assert total == sum(len(r) for r in records.values())
    return total


async def test_backfill_equals_the_ground_truth_and_a_rerun_adds_nothing(services: Endpoints) -> None:
    symbols, granularities = ("ETHUSDTM", "XBTUSDM", "XBTUSDTM"), (1, 5)
    topic = unique_name("klines-e2e")
    options = BackfillOptions(
        symbols=("XBT*", "ETHUSDTM"), granularities=granularities, start_ms=START_MS - 20 * 3600_000, settle_s=0
    )
    async with fake() as fx:
        started_ns = time.time_ns()
        assert await run(options, targets(services, fx, topic))
        count = assert_topic_is_the_truth(services, fx, topic, symbols, granularities, options.start_ms, START_MS)
        assert count > 3 * 1000  # most of the 3 x 1200 one-minute slots had trades
        records = kafka_klines(services.bootstrap_servers, services.schema_registry_url, topic)
        assert all(started_ns <= k.receive_ts_ns <= time.time_ns() for r in records.values() for k in r)
        coverage = committed_coverage(services.bootstrap_servers, f"{topic}.checkpoints")
        assert set(coverage) == {SeriesKey(s, g) for s in symbols for g in granularities}
        metrics = ProducerMetrics()
        assert await run(options, targets(services, fx, topic), metrics)
        assert (
            metrics.registry.get_sample_value(
                "kucoin_rest_calls_total", {"path": "/api/v1/kline/query", "status": "200"}
            )
            is None
        )
        assert (
            assert_topic_is_the_truth(services, fx, topic, symbols, granularities, options.start_ms, START_MS) == count
        )


async def _cli(fx: FakeExchange, services: Endpoints, *args: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "KUCOIN_REST_URL": fx.rest_url,
        "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": services.schema_registry_url,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops.cli",
        "backfill",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.slow
async def test_kill_9_mid_backfill_then_restart_is_exactly_once_without_holes(services: Endpoints) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    topic = unique_name("klines-kill")
    start = START_MS - 2 * DAY_MS + 3600_000
    args = [
        "--symbols",
        "XBTUSDTM,ETHUSDTM",
        "-g",
        "1",
        "-g",
        "5",
        "--start",
        str(start),
        "--topic",
        topic,
        "--settle-delay",
        "0",
        "--log-level",
        "WARNING",
    ]
    # 9 weight a second: 3 calls a second, so the 2 x (6 + 2) pages take about 5 s and the kill lands mid-way
    async with fake(rest_limit=9, rest_window_s=1.0) as fx:
        first = await _cli(fx, services, *args)
        checkpoints = f"{topic}.checkpoints"
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(_has_committed, services.bootstrap_servers, checkpoints):
            assert time.monotonic() < deadline and first.returncode is None, "no page committed in time"
            await asyncio.sleep(0.2)
        await asyncio.sleep(rng.uniform(0.0, 2.0))
        first.send_signal(signal.SIGKILL)
        await first.communicate()
        assert first.returncode == -signal.SIGKILL
        coverage = await asyncio.to_thread(committed_coverage, services.bootstrap_servers, checkpoints)
        done = sum((b - a) // (key.granularity_min * MINUTE_MS) for key, c in coverage.items() for a, b in c.intervals)
        assert 0 < done < 2 * (2 * DAY_MS - 3600_000) // MINUTE_MS, f"kill was not mid-way (seed {seed})"
        second = await _cli(fx, services, *args)
        _, stderr = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 0, stderr.decode()
        assert_topic_is_the_truth(services, fx, topic, ("ETHUSDTM", "XBTUSDTM"), (1, 5), start, START_MS)


def _has_committed(bootstrap: str, topic: str) -> bool:
    try:
        return bool(committed_coverage(bootstrap, topic))
    except Exception:  # the job has not created the topic yet
        return False


async def test_rate_limit_waits_on_the_headers_and_retries_a_429(services: Endpoints) -> None:
    topic = unique_name("klines-ratelimit")
    options = BackfillOptions(
        symbols=("XBTUSDTM", "ETHUSDTM"), granularities=(1,), start_ms=START_MS - 40 * 3600_000, settle_s=0
    )
    async with fake(rest_limit=9, rest_window_s=2.0) as fx:
        # The topics exist beforehand, so the job's first REST call comes well within the window spent below.
        ensure_kline_topics(services.bootstrap_servers, topic, targets(services, fx, topic).checkpoints)
        async with httpx.AsyncClient(
            base_url=fx.rest_url
        ) as http:  # spend the whole window: the job's first call gets 429
            for _ in range(9):
                await http.get("/api/v1/timestamp")
            assert (await http.get("/api/v1/timestamp")).status_code == 429
        metrics = ProducerMetrics()
        started = time.monotonic()
        assert await run(options, targets(services, fx, topic), metrics)
        elapsed = time.monotonic() - started
        assert_topic_is_the_truth(services, fx, topic, ("ETHUSDTM", "XBTUSDTM"), (1,), options.start_ms, START_MS)

    def calls(path: str, status: str) -> float:
        return metrics.registry.get_sample_value("kucoin_rest_calls_total", {"path": path, "status": status}) or 0.0

    pages = calls("/api/v1/kline/query", "200")
    assert pages == 10  # 2 symbols x 2400 slots / 500
    refused = sum(calls(p, "429") for p in ("/api/v1/contracts/active", "/api/v1/timestamp", "/api/v1/kline/query"))
    assert 1 <= refused <= 2  # the spent window, then (at most a rounding edge) the headers keep the job under it
    assert elapsed >= 3.0  # 12 calls at 3 per window: it waited for the windows instead of failing


async def test_follow_publishes_each_newly_closed_candle_once(services: Endpoints) -> None:
    topic = unique_name("klines-live")
    async with fake(speed=60.0) as fx:  # a fake minute per real second
        start = fx.clock.now_ms() - 30 * MINUTE_MS
        options = BackfillOptions(
            symbols=("XBTUSDTM", "ETHUSDTM"),
            granularities=(1,),
            start_ms=start,
            follow=True,
            settle_s=1.0,
            max_wait_s=0.2,
        )
        stop = asyncio.Event()
        job = asyncio.create_task(
            run_klines(options, targets(services, fx, topic), ProducerMetrics(), stop, ProgressBar(None, False))
        )
        backfilled = await _coverage_of_every_series(services, f"{topic}.checkpoints", 2)
        await asyncio.sleep(4.0)
        stop.set()
        assert await asyncio.wait_for(job, 10)
        now = fx.clock.now_ms()
    coverage = committed_coverage(services.bootstrap_servers, f"{topic}.checkpoints")
    for key, covered in coverage.items():
        assert len(covered.intervals) == 1
        first, end = covered.intervals[0]
        assert first == start // MINUTE_MS * MINUTE_MS + MINUTE_MS
        assert end - backfilled[key].intervals[0][1] >= 3 * MINUTE_MS  # live rounds added several candles
        assert end >= now - 2 * MINUTE_MS  # and kept up with the clock
    records = kafka_klines(services.bootstrap_servers, services.schema_registry_url, topic)
    for key, covered in coverage.items():
        first, end = covered.intervals[0]
        expected = truth(fx.market.model, key.symbol, 1, first, end, now)
        assert blank(series_of(records, key.symbol, 1)) == expected


async def _coverage_of_every_series(services: Endpoints, topic: str, series: int) -> dict[SeriesKey, Coverage]:
    """The committed coverage once the backfill has committed something for each series (a loaded CI is slow)."""
    deadline = time.monotonic() + 30
    while True:
        coverage = await asyncio.to_thread(committed_coverage, services.bootstrap_servers, topic)
        if len(coverage) >= series or time.monotonic() > deadline:
            return coverage
        await asyncio.sleep(0.2)


def test_a_restart_aborts_the_open_transaction_of_a_killed_run_and_fences_it(services: Endpoints) -> None:
    """What kill -9 mid-transaction leaves behind, made deterministic: records and a checkpoint in the log, never
    committed, from a producer that may still be alive (a zombie)."""
    topic = unique_name("klines-zombie")
    where = KlineTargets("http://unused", services.bootstrap_servers, services.schema_registry_url, topic)
    ensure_kline_topics(services.bootstrap_servers, topic, where.checkpoints)
    codec = codec_for(registry_client(services.schema_registry_url), by_name("kline"), topic)
    key, candle = SeriesKey("XBTUSDTM", 1), Kline("XBTUSDTM", 1, START_MS - 77_000, "1", "1", "1", "1", "1", None, 5)
    zombie = Producer({"bootstrap.servers": services.bootstrap_servers, "transactional.id": where.transactional_id})
    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce(topic, codec.encode(candle), b"XBTUSDTM")
    zombie.produce(where.checkpoints, Coverage(1).add(0, START_MS).encode(), key.text().encode())
    assert zombie.flush(30) == 0
    assert len(read_all(services.bootstrap_servers, topic, isolation="read_uncommitted")) == 1

    writer = TransactionalKlineWriter(
        services.bootstrap_servers, where.transactional_id, topic, where.checkpoints, codec, ProducerMetrics()
    )
    assert writer.start() == {}  # the zombie's checkpoint was aborted, not read
    writer.commit_page(key, Coverage(1).add(candle.open_time_ms, START_MS), [candle])
    with pytest.raises(KafkaException) as fenced:
        zombie.commit_transaction(30)
    assert fenced.value.args[0].fatal() or fenced.value.args[0].txn_requires_abort()
    assert [
        k.open_time_ms
        for k in kafka_klines(services.bootstrap_servers, services.schema_registry_url, topic)["XBTUSDTM"]
    ] == [candle.open_time_ms]
