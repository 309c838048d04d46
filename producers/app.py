"""The ``produce`` job assembled: registry codecs, the Kafka publisher, the REST client and the live streams.

Shutdown (SIGTERM/SIGINT sets ``stop``): the connections close, then the publisher flushes for up to
``flush_timeout_s``; whatever Kafka has not acknowledged by then stays in the on-disk spill for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Message

from ops.admin import Admin
from ops.topics import create_missing_topics, default_specs
from producers.metrics import ProducerMetrics
from producers.publisher.kafka import DEFAULT_MEMORY_BUDGET_KB, KafkaPublisher, PublisherConfig
from producers.rest_client import KucoinRestClient
from producers.sink import RecordSink, Topics
from producers.websocket import LiveStreams, StreamsConfig
from schemas.catalog import by_name
from schemas.registry import codec_for, registry_client

__all__ = ["ProduceOptions", "run_produce"]

log = logging.getLogger(__name__)
SERVICE_INTERVAL_S = 0.005
"""How often delivery reports are served (acks counted, spill drained): part of the receive-to-ack latency."""
GC_YOUNG_THRESHOLD = 10_000
"""Net allocations between two collections of the youngest generation while streaming (Python's default: 700).

Each record waits for its broker ack with a delivery callback, so thousands of small objects are alive at any
time, and every collection walks them all: about 3% of a Depth50 frame's instructions at the default threshold.
A collection pauses the event loop (acks wait) for ~1 us per young object: 50-75 ms at 50,000, 10-25 ms at this
threshold, with no throughput difference measurable beside the machine's noise. The objects alive when streaming
starts (imports, codecs, clients) are frozen out of collections, so a full collection walks only what streaming
keeps.
"""


@dataclass(frozen=True, slots=True)
class ProduceOptions:
    """Everything the ``produce`` job needs."""

    rest_url: str
    bootstrap_servers: str
    registry_url: str
    topics: Topics
    spill_dir: Path
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    memory_budget_kb: int = DEFAULT_MEMORY_BUDGET_KB
    flush_timeout_s: float = 30.0
    seed: int | None = None


def default_topics() -> Topics:
    """The default raw topic names."""
    return Topics(
        ticker_v2=by_name("ticker_v2").default_topic,
        depth50=by_name("depth50").default_topic,
        kline=by_name("kline").default_topic,
        dead_letter=by_name("dead_letter").default_topic,
    )


def _ensure_raw_topics(bootstrap_servers: str, topics: Topics) -> None:
    """Create the raw topics this job writes if they are missing (an existing topic is left as it is)."""
    names = {"ticker_v2": topics.ticker_v2, "depth50": topics.depth50, "dead_letter": topics.dead_letter}
    specs = [spec for spec in default_specs(topics=names) if spec.name in names.values()]
    for change in create_missing_topics(Admin(bootstrap_servers), specs):
        log.info("topic %s", change.line())


async def run_produce(
    options: ProduceOptions,
    stop: asyncio.Event,
    metrics: ProducerMetrics,
    on_ack: Callable[[Message], None] | None = None,
) -> int:
    """Stream until ``stop`` is set; returns how many records were left in the spill at exit.

    ``on_ack`` sees every acknowledged record too (benchmarks measure receive-to-ack with it).
    """
    _ensure_raw_topics(options.bootstrap_servers, options.topics)
    registry = registry_client(options.registry_url)
    codecs = {
        "ticker_v2": codec_for(registry, by_name("ticker_v2"), options.topics.ticker_v2),
        "depth50": codec_for(registry, by_name("depth50"), options.topics.depth50),
        "kline": codec_for(registry, by_name("kline"), options.topics.kline),
        "dead_letter": codec_for(registry, by_name("dead_letter"), options.topics.dead_letter),
    }

    acked, ack_latency = metrics.records_acked.labels(), metrics.receive_to_ack.labels()

    def acknowledged(msg: Message) -> None:
        acked.value += 1  # Tally.inc() without the call: once per record
        latency = msg.latency()
        if latency is not None:
            ack_latency.observe(latency)
        if on_ack is not None:
            on_ack(msg)

    publisher = KafkaPublisher(
        PublisherConfig(options.bootstrap_servers, memory_budget_kb=options.memory_budget_kb),
        options.spill_dir,
        on_ack=acknowledged,
    )
    if publisher.spilled:
        log.info("%d records from a previous run wait in the spill; they go first", publisher.spilled)
    sink = RecordSink(publisher, options.topics, codecs, metrics)
    rng = random.Random(options.seed)
    rest = KucoinRestClient(options.rest_url, metrics, rng, time.time_ns)
    streams = LiveStreams(rest, sink, options.streams, metrics, rng)

    async def service() -> None:
        while True:
            publisher.service()
            metrics.queue_depth.set(publisher.queued)
            metrics.spill_depth.set(publisher.spilled)
            await asyncio.sleep(SERVICE_INTERVAL_S)

    servicing = asyncio.create_task(service(), name="publisher-service")
    thresholds = gc.get_threshold()
    gc.collect()  # what is garbage now would stay frozen
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        await streams.run(stop)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        servicing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await servicing
        await rest.aclose()
        left = await asyncio.to_thread(publisher.close, options.flush_timeout_s)
        stats = publisher.stats
        log.info(
            "stopped: %d records produced, %d acknowledged, %d spilled to disk, %d left in the spill",
            stats.produced + stats.drained_from_spill,
            stats.acknowledged,
            stats.spilled,
            left,
        )
    return left
