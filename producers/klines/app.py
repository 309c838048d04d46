"""The kline job assembled: topics, the registry codec, the transactional writer, the REST client."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from producers.klines.errors import KlineJobError
from producers.klines.job import BackfillOptions, KlineJob
from producers.klines.kafka import TransactionalKlineWriter, ensure_kline_topics
from producers.klines.progress import ProgressBar
from producers.metrics import ProducerMetrics
from producers.rest_client import KucoinRestClient
from schemas.catalog import by_name
from schemas.registry import codec_for, registry_client

__all__ = ["KlineTargets", "run_klines"]

_KLINE = by_name("kline")


@dataclass(frozen=True, slots=True)
class KlineTargets:
    """Where the job reads and writes. One job per ``job_name`` at a time: a second one fences the first."""

    rest_url: str
    bootstrap_servers: str
    registry_url: str
    topic: str = _KLINE.default_topic
    checkpoint_topic: str | None = None
    job_name: str | None = None

    @property
    def checkpoints(self) -> str:
        """The checkpoint topic (default ``<topic>.checkpoints``: one per kline topic)."""
        return self.checkpoint_topic or f"{self.topic}.checkpoints"

    @property
    def transactional_id(self) -> str:
        """Stable across restarts, which is what lets a restart fence and abort a killed predecessor."""
        return f"kline-backfill-{self.job_name or self.checkpoints}"


async def run_klines(
    options: BackfillOptions, targets: KlineTargets, metrics: ProducerMetrics, stop: asyncio.Event, bar: ProgressBar
) -> bool:
    """Run the job until done (or ``stop``); ``False`` when stopped before the backfill was complete."""
    await asyncio.to_thread(ensure_kline_topics, targets.bootstrap_servers, targets.topic, targets.checkpoints)
    try:
        codec = await asyncio.to_thread(codec_for, registry_client(targets.registry_url), _KLINE, targets.topic)
    except Exception as exc:  # the registry client raises several types (HTTP, connection, registry errors)
        raise KlineJobError(f"schema registry at {targets.registry_url}: {exc}") from exc
    writer = TransactionalKlineWriter(
        targets.bootstrap_servers, targets.transactional_id, targets.topic, targets.checkpoints, codec, metrics
    )
    client = KucoinRestClient(targets.rest_url, metrics, random.Random(), time.time_ns)
    try:
        return await KlineJob(options, client, writer, bar, stop).run()
    finally:
        await client.aclose()
