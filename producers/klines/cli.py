"""``kucoin-kafka backfill``: klines of any range and granularity into Kafka exactly once, then live with --follow."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import UTC, datetime

from ops.arguments import non_negative_number, positive_number
from ops.config import Settings
from ops.logs import configure_logging
from ops.stack.local import LocalStack
from producers.klines.app import KlineTargets, run_klines
from producers.klines.errors import KlineJobError
from producers.klines.job import BackfillOptions
from producers.klines.progress import ProgressBar
from producers.kucoin.exceptions import KucoinError, UnknownSymbolError
from producers.kucoin.klines import GRANULARITIES_MIN
from producers.metrics import ProducerMetrics, serve_metrics
from schemas.catalog import by_name

__all__ = ["parse_time", "register"]

_KLINE = by_name("kline")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``backfill`` command."""
    backfill = commands.add_parser(
        "backfill",
        help="backfill REST klines of any range and granularity into Kafka exactly once (--follow: then live)",
        description="Page GET /api/v1/kline/query (500 rows a call, within the rate limit) for every chosen symbol "
        "and granularity and publish each CLOSED candle as Avro (key = symbol) exactly once: every page is one "
        "Kafka transaction with its checkpoint, so a restart (even after kill -9) resumes where the last committed "
        "page ended, and a rerun over the same range publishes nothing twice. Candles of intervals without trades "
        "do not exist and are not waited for.",
    )
    backfill.add_argument(
        "--symbols", required=True, help="comma-separated symbols and globs (XBTUSDTM,ETH*) or 'all' open contracts"
    )
    backfill.add_argument(
        "-g",
        "--granularity",
        type=int,
        action="append",
        choices=sorted(GRANULARITIES_MIN),
        metavar="MINUTES",
        help=f"candle length in minutes, repeatable; one of {', '.join(map(str, sorted(GRANULARITIES_MIN)))} "
        "(default 1)",
    )
    backfill.add_argument("--start", required=True, type=parse_time, help="ISO-8601 (UTC if no offset) or epoch ms")
    backfill.add_argument("--end", type=parse_time, help="exclusive, ISO-8601 or epoch ms (default: now)")
    backfill.add_argument("--follow", action="store_true", help="after the backfill, publish each candle as it closes")
    backfill.add_argument("--topic", default=_KLINE.default_topic, help=f"kline topic (default {_KLINE.default_topic})")
    backfill.add_argument("--checkpoint-topic", help="compacted checkpoint topic (default <topic>.checkpoints)")
    backfill.add_argument(
        "--job-name", help="names the transactional id; one live job per name (default the checkpoint topic)"
    )
    backfill.add_argument("--rest-url", help="KuCoin Futures REST base URL (default KUCOIN_REST_URL or the real API)")
    backfill.add_argument("--brokers", help="Kafka bootstrap servers (default KAFKA_BOOTSTRAP_SERVERS or local stack)")
    backfill.add_argument("--registry", help="schema registry URL (default SCHEMA_REGISTRY_URL or local stack)")
    backfill.add_argument(
        "--settle-delay",
        type=non_negative_number,
        default=2.0,
        help="seconds after a close before a candle counts as final (2)",
    )
    backfill.add_argument(
        "--max-wait", type=positive_number, default=60.0, help="longest sleep between live rounds, s (60)"
    )
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    backfill.add_argument("--metrics-port", type=int, default=0, help="Prometheus /metrics port, 0 = off (0)")
    backfill.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    backfill.set_defaults(handler=_backfill)


def parse_time(text: str) -> int:
    """Epoch milliseconds from digits or an ISO-8601 date/time (naive means UTC)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither ISO-8601 nor epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def options_from(args: argparse.Namespace) -> BackfillOptions:
    """The job's options; ``ValueError`` for contradictory arguments."""
    symbols = tuple(part.strip() for part in args.symbols.split(",") if part.strip())
    if not symbols:
        raise ValueError("--symbols is empty")
    if args.end is not None and args.end <= args.start:
        raise ValueError("--end must be after --start")
    if args.follow and args.end is not None:
        raise ValueError("--follow continues up to now: leave --end out")
    return BackfillOptions(
        symbols=symbols,
        granularities=tuple(sorted(set(args.granularity or [1]))),
        start_ms=args.start,
        end_ms=args.end,
        follow=args.follow,
        settle_s=args.settle_delay,
        max_wait_s=args.max_wait,
    )


def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    options = options_from(args)
    configure_logging(args.log_level)
    metrics = ProducerMetrics()
    serve_metrics(metrics, args.metrics_port)
    try:
        complete = asyncio.run(_main(args, settings, options, metrics))
    except UnknownSymbolError as exc:
        print(f"kucoin-kafka: error: {exc}", file=sys.stderr)
        return 2
    except (KlineJobError, KucoinError) as exc:
        print(f"kucoin-kafka: error: {exc}", file=sys.stderr)
        return 1
    if not complete and not options.follow:
        # A bounded backfill cut short tells scripts so; a --follow job stopped by its supervisor exits 0.
        print("kucoin-kafka: backfill stopped before the end; run it again to resume", file=sys.stderr)
        return 130
    return 0


async def _main(
    args: argparse.Namespace, settings: Settings, options: BackfillOptions, metrics: ProducerMetrics
) -> bool:
    endpoints = LocalStack(settings).endpoints
    targets = KlineTargets(
        rest_url=(args.rest_url or settings.kucoin_rest_url).rstrip("/"),
        bootstrap_servers=args.brokers or endpoints.bootstrap_servers,
        registry_url=args.registry or endpoints.schema_registry_url,
        topic=args.topic,
        checkpoint_topic=args.checkpoint_topic,
        job_name=args.job_name,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bar = ProgressBar(None if args.no_progress else sys.stderr, sys.stderr.isatty())
    return await run_klines(options, targets, metrics, stop, bar)
