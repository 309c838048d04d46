"""The ``kucoin-kafka`` command: one entry point for every job of the pipeline.

Each package registers its own sub-commands; this module only builds the parser, loads the settings once and turns
the project's errors into a one-line message and a non-zero exit code (no traceback for expected failures).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ops import config, connections, pipeline, topics_cli
from ops.admin import ClusterError
from ops.stack import cli as stack_cli
from ops.stack.errors import StackError
from processors import cli as processors_cli
from processors.replay import cli as replay_cli
from producers import cli as producers_cli
from producers.klines import cli as klines_cli
from schemas import cli as schemas_cli

__all__ = ["build_parser", "main"]

USER_ERRORS: tuple[type[Exception], ...] = (StackError, ClusterError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests that check commands exist)."""
    env_help = "\n".join(f"  {name:<28} {meaning}" for name, meaning in config.ENV_VARS.items())
    parser = argparse.ArgumentParser(
        prog="kucoin-kafka",
        description="KuCoin Futures market data into Apache Kafka as Avro; derived bars and order-book imbalance.",
        epilog=f"environment variables:\n{env_help}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pipeline.register(commands)
    producers_cli.register(commands)
    klines_cli.register(commands)
    stack_cli.register(commands)
    fake = commands.add_parser(
        "fake-exchange",
        add_help=False,
        help="run the fake KuCoin Futures exchange (REST + WebSocket) for offline demos and tests",
    )
    fake.add_argument("arguments", nargs=argparse.REMAINDER, help="see `kucoin-kafka fake-exchange --help`")
    fake.set_defaults(handler=_fake_exchange)
    bench = commands.add_parser(
        "bench", add_help=False, help="run the benchmark suite: table, JSON and PNG chart (see bench --help)"
    )
    bench.set_defaults(handler=lambda args, settings: _passthrough("bench", []))
    schemas_cli.register(commands)
    processors_cli.register(commands)
    replay_cli.register(commands)
    topics_cli.register(commands)
    return parser


def _fake_exchange(args: argparse.Namespace, settings: config.Settings) -> int:
    return _passthrough("fake-exchange", args.arguments)


def _passthrough(command: str, arguments: list[str]) -> int:
    """Commands with a parser of their own (options and --help included)."""
    if command == "fake-exchange":
        from ops.fake_exchange.cli import main as fake_exchange_main

        return fake_exchange_main(arguments)
    from ops.bench.suite import main as bench_main

    return bench_main(arguments)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["fake-exchange"], ["bench"]):  # their own parsers, options and --help included
        connections.use(config.load())
        return _passthrough(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = config.load()
        connections.use(settings)
        code: int = args.handler(args, settings)
    except USER_ERRORS as exc:
        print(f"kucoin-kafka: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
