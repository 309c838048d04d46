"""Market data in real topics, made the way the pipeline makes it: the fake exchange streamed through the real
``produce`` job (tickerV2, Depth50) and polled by the real kline backfill job.

The fake's clock stands still and is stepped, so the topics cover an exact span of exchange time whatever the
machine's speed. Each stream of each symbol has its own connection, so the symbols that share a partition
interleave slightly out of exchange-time order, as over live connections. Klines are backfilled in passes, each
starting further in the past, so a kline partition holds older candles after newer ones (what extending a
backfill does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.fake_exchange import FakeExchange, FakeExchangeConfig
from ops.stack.local import Endpoints
from producers.klines.app import KlineTargets, run_klines
from producers.klines.job import BackfillOptions
from producers.klines.progress import ProgressBar
from producers.metrics import ProducerMetrics
from producers.sink import Topics
from producers.websocket import StreamsConfig
from tests.support.ground_truth import sent_frames
from tests.support.producer import running_producer

__all__ = ["MarketRun", "produce_market"]

_STEP_MS = 250
"""Fake time per step: 2.5 Depth50 periods, so consecutive steps' pushes overlap across connections."""
_STEP_S = 0.01
_STREAMS_PER_SYMBOL = 2


@dataclass(frozen=True, slots=True)
class MarketRun:
    """What to produce: symbols, the fake's start (exchange time), how long to stream, and where each kline
    backfill pass starts (in order; every pass ends at the fake's time after streaming)."""

    symbols: tuple[str, ...]
    start_ms: int
    stream_ms: int
    kline_starts_ms: Sequence[int]
    seed: int = 5


async def produce_market(services: Endpoints, topics: Topics, spill_dir: Path, run: MarketRun) -> None:
    """Fill ``topics`` (raw tickerV2, Depth50 and kline topics) through the real jobs; fails unless the producer
    ran throughout and left nothing in its spill."""
    config = FakeExchangeConfig(seed=run.seed, symbols=run.symbols, start_ms=run.start_ms, speed=0.0)
    streams = StreamsConfig(symbols=run.symbols, topics_per_connection=1)
    subscriptions = len(run.symbols) * _STREAMS_PER_SYMBOL
    async with FakeExchange(config) as fx:
        async with running_producer(services, fx.rest_url, topics, spill_dir, streams) as producer:
            async with asyncio.timeout(30):
                while _acks(fx) < subscriptions:  # noqa: ASYNC110 - the recorder has no event to await
                    await asyncio.sleep(0.05)
            for _ in range(run.stream_ms // _STEP_MS):
                fx.clock.advance(_STEP_MS)
                await asyncio.sleep(_STEP_S)
                producer.assert_running()
            await asyncio.sleep(0.3)  # the last pushes reach the producer
            assert await producer.finish() == 0
        where = KlineTargets(fx.rest_url, services.bootstrap_servers, services.schema_registry_url, topics.kline)
        for start_ms in run.kline_starts_ms:
            options = BackfillOptions(run.symbols, (1,), start_ms, settle_s=0)
            assert await run_klines(options, where, ProducerMetrics(), asyncio.Event(), ProgressBar(None, False))


def _acks(fx: FakeExchange) -> int:
    """Subscriptions the fake has acknowledged: its streams start from there."""
    return sum('"type":"ack"' in frame.text for frame in sent_frames(fx) if frame.kind == "control")
