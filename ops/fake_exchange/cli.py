"""``kucoin-kafka fake-exchange``: run the fake KuCoin Futures exchange as a standalone server."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
from pathlib import Path

from ops.arguments import positive_number
from ops.fake_exchange.config import FakeExchangeConfig
from ops.fake_exchange.contracts import MAX_CONTRACTS
from ops.fake_exchange.server import FakeExchange

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The command line of the fake exchange."""
    parser = argparse.ArgumentParser(
        prog="kucoin-kafka fake-exchange",
        description=(
            "Serve a deterministic fake of the KuCoin Futures public API (REST + WebSocket) on one port. "
            "Point a client's KuCoin REST base URL at http://HOST:PORT; bullet-public hands out ws://HOST:PORT/."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8089, help="TCP port, 0 for any free one (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="market seed: same seed, same frames (default %(default)s)")
    parser.add_argument(
        "--symbols", type=int, default=50, help=f"number of contracts listed, 1..{MAX_CONTRACTS} (default %(default)s)"
    )
    parser.add_argument(
        "--speed", type=positive_number, default=1.0, help="fake seconds per real second (default %(default)s)"
    )
    parser.add_argument("--start-ms", type=int, default=None, help="fake time at start in epoch ms (default: now)")
    parser.add_argument("--max-rate", action="store_true", help="push frames as fast as clients read them (benchmarks)")
    parser.add_argument("--record", type=Path, default=None, help="append every sent frame to this JSONL file")
    parser.add_argument("--playback", type=Path, default=None, help="serve this JSONL capture instead of the model")
    parser.add_argument(
        "--idle-timeout", type=positive_number, default=60.0, help="seconds without a client message before 1000 Bye"
    )
    parser.add_argument(
        "--no-keep-frames",
        action="store_true",
        help="do not keep sent frames in memory (long runs, benchmarks)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> FakeExchangeConfig:
    """The server settings the parsed command line asks for."""
    return FakeExchangeConfig(
        seed=args.seed,
        symbols=args.symbols,
        start_ms=args.start_ms,
        speed=args.speed,
        host=args.host,
        port=args.port,
        max_rate=args.max_rate,
        capture_path=args.record,
        playback_path=args.playback,
        idle_timeout_s=args.idle_timeout,
        record_delivered=not args.no_keep_frames,
    )


async def serve(config: FakeExchangeConfig) -> None:
    """Run the fake until SIGINT or SIGTERM, then close it cleanly (the capture file is flushed)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with FakeExchange(config) as fx:
        print(f"fake KuCoin Futures: REST {fx.rest_url}  WebSocket {fx.ws_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= MAX_CONTRACTS:
        parser.error(f"--symbols must be in 1..{MAX_CONTRACTS}")
    # The server allocates a few short-lived tuples per frame it pushes: collecting the young generation every 700
    # allocations (the default) costs it 5-12 % of its time at full rate, every 50,000 next to nothing.
    gc.set_threshold(50_000, 20, 20)
    asyncio.run(serve(config_from_args(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
