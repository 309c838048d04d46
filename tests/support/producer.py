"""Run the real ``produce`` job in-process against a fake exchange, for end-to-end and fault tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ops.stack.local import Endpoints
from producers.app import ProduceOptions, run_produce
from producers.metrics import ProducerMetrics
from producers.sink import Topics
from producers.websocket import StreamsConfig
from tests.support.kafka import create_topics, unique_name

__all__ = ["RunningProducer", "fresh_topics", "running_producer"]


def fresh_topics(prefix: str, bootstrap: str, partitions: int = 3) -> Topics:
    """Fresh raw topics for one test."""
    base = unique_name(prefix)
    topics = Topics(f"{base}.tickerv2", f"{base}.depth50", f"{base}.kline", f"{base}.deadletter")
    create_topics(bootstrap, [topics.ticker_v2, topics.depth50, topics.kline, topics.dead_letter], partitions)
    return topics


@dataclass
class RunningProducer:
    """A producer task, its metrics, and the event that stops it."""

    task: asyncio.Task[int]
    stop: asyncio.Event
    metrics: ProducerMetrics

    def assert_running(self) -> None:
        """Fail, with the producer's own error if it has one, unless it is still running."""
        if self.task.done():
            self.task.result()
            raise AssertionError("the producer stopped on its own")

    def sample(self, name: str, **labels: str) -> float:
        """The current value of one metric sample (0 when it was never touched)."""
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    async def finish(self, wait_s: float = 60.0) -> int:
        """Stop and wait; returns the records left in the spill (0 when everything reached Kafka)."""
        self.stop.set()
        return await asyncio.wait_for(self.task, wait_s)


@contextlib.asynccontextmanager
async def running_producer(
    services: Endpoints,
    rest_url: str,
    topics: Topics,
    spill_dir: Path,
    streams: StreamsConfig,
    bootstrap_servers: str | None = None,
    memory_budget_kb: int = 64 * 1024,
) -> AsyncIterator[RunningProducer]:
    """Start ``run_produce`` as a task; stops it (and re-raises its failure) on exit."""
    options = ProduceOptions(
        rest_url=rest_url,
        bootstrap_servers=bootstrap_servers or services.bootstrap_servers,
        registry_url=services.schema_registry_url,
        topics=topics,
        spill_dir=spill_dir,
        streams=streams,
        memory_budget_kb=memory_budget_kb,
        seed=7,
    )
    stop = asyncio.Event()
    metrics = ProducerMetrics()
    running = RunningProducer(asyncio.create_task(run_produce(options, stop, metrics)), stop, metrics)
    try:
        yield running
    finally:
        if not running.task.done():
            running.stop.set()
            await asyncio.wait_for(running.task, 60)
