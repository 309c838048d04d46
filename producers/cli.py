"""``kucoin-kafka produce``: stream tickerV2 and Depth50 from KuCoin Futures into Kafka."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from ops.arguments import non_negative_number, positive_number
from ops.config import Settings
from ops.logs import configure_logging
from ops.stack.local import LocalStack
from producers.app import ProduceOptions, default_topics, run_produce
from producers.kucoin.topics import Stream
from producers.metrics import ProducerMetrics, serve_metrics
from producers.sink import Topics
from producers.websocket import StreamsConfig

__all__ = ["register"]

_STREAMS = {"tickerV2": Stream.TICKER_V2, "level2Depth50": Stream.DEPTH50}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``produce`` command."""
    topics = default_topics()
    produce = commands.add_parser(
        "produce",
        help="stream tickerV2 and level2Depth50 from KuCoin Futures into Kafka (Avro, key = symbol)",
        description="Connect to KuCoin Futures (KUCOIN_REST_URL or --rest-url; the fake exchange works the same), "
        "subscribe the chosen symbols and publish every new event exactly once as Avro. Depth50 resends with an "
        "unchanged sequence are dropped and counted unless --keep-repeats. Records Kafka cannot take in time "
        "wait in an on-disk spill; SIGTERM/SIGINT flush before exit.",
    )
    produce.add_argument(
        "--symbols",
        default="all",
        help="comma-separated symbols and globs (XBTUSDTM,ETH*) or 'all' open contracts (default all)",
    )
    produce.add_argument(
        "--streams", default="tickerV2,level2Depth50", help="comma-separated: tickerV2, level2Depth50 (default both)"
    )
    produce.add_argument("--rest-url", help="KuCoin Futures REST base URL (default KUCOIN_REST_URL or the real API)")
    produce.add_argument("--brokers", help="Kafka bootstrap servers (default KAFKA_BOOTSTRAP_SERVERS or local stack)")
    produce.add_argument("--registry", help="schema registry URL (default SCHEMA_REGISTRY_URL or local stack)")
    produce.add_argument("--ticker-topic", default=topics.ticker_v2, help=f"default {topics.ticker_v2}")
    produce.add_argument("--depth-topic", default=topics.depth50, help=f"default {topics.depth50}")
    produce.add_argument("--dead-letter-topic", default=topics.dead_letter, help=f"default {topics.dead_letter}")
    produce.add_argument("--metrics-port", type=int, default=9101, help="Prometheus /metrics port, 0 = off (9101)")
    produce.add_argument(
        "--spill-dir", help="on-disk spill for broker outages (default $KUCOIN_KAFKA_HOME/spill/produce)"
    )
    produce.add_argument(
        "--memory-budget-mb", type=int, default=128, help="in-memory Kafka queue before spilling (128)"
    )
    produce.add_argument(
        "--flush-timeout", type=non_negative_number, default=30.0, help="seconds to flush on shutdown (30)"
    )
    produce.add_argument("--keep-repeats", action="store_true", help="also publish unchanged Depth50 resends")
    produce.add_argument("--topics-per-connection", type=int, default=100, help="WebSocket topics per connection (100)")
    produce.add_argument(
        "--refresh-interval", type=positive_number, default=300.0, help="seconds between symbol refreshes (300)"
    )
    produce.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    produce.set_defaults(handler=_produce)


def _parse_streams(text: str) -> tuple[Stream, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in _STREAMS]
    if unknown or not names:
        raise ValueError(f"--streams: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(_STREAMS)}")
    return tuple(_STREAMS[name] for name in names)


def options_from(args: argparse.Namespace, settings: Settings) -> ProduceOptions:
    """The job's options from the command line and the environment."""
    if not 1 <= args.topics_per_connection <= 100:
        raise ValueError("--topics-per-connection must be in 1..100 (KuCoin's subscription limit)")
    if args.memory_budget_mb < 1:
        raise ValueError("--memory-budget-mb must be at least 1")
    symbols = tuple(part.strip() for part in args.symbols.split(",") if part.strip())
    if not symbols:
        raise ValueError("--symbols is empty")
    endpoints = LocalStack(settings).endpoints
    return ProduceOptions(
        rest_url=(args.rest_url or settings.kucoin_rest_url).rstrip("/"),
        bootstrap_servers=args.brokers or endpoints.bootstrap_servers,
        registry_url=args.registry or endpoints.schema_registry_url,
        topics=Topics(args.ticker_topic, args.depth_topic, default_topics().kline, args.dead_letter_topic),
        spill_dir=Path(args.spill_dir) if args.spill_dir else settings.home / "spill" / "produce",
        streams=StreamsConfig(
            symbols=symbols,
            streams=_parse_streams(args.streams),
            topics_per_connection=args.topics_per_connection,
            refresh_interval_s=args.refresh_interval,
            keep_repeats=args.keep_repeats,
        ),
        memory_budget_kb=args.memory_budget_mb * 1024,
        flush_timeout_s=args.flush_timeout,
    )


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    options = options_from(args, settings)
    configure_logging(args.log_level)
    metrics = ProducerMetrics()
    serve_metrics(metrics, args.metrics_port)
    return asyncio.run(_main(options, metrics))


async def _main(options: ProduceOptions, metrics: ProducerMetrics) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    left = await run_produce(options, stop, metrics)
    return 0 if left == 0 else 3
