"""``kucoin-kafka replay export|publish|verify``: the replay API on the command line.

Each handler takes ``(args, settings)`` and returns the exit code; request errors are :class:`ReplayError`
(a ``ValueError``), which the entry point prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal

from ops.config import Settings
from ops.stack.local import LocalStack
from processors.jobs import JOB_NAMES
from processors.replay.errors import ReplayError
from processors.replay.files import FORMATS, SPLITS, write_files
from processors.replay.merge import Replayed
from processors.replay.pacing import Pacing
from processors.replay.position import PositionFile
from processors.replay.progress import Progress
from processors.replay.reader import Replay
from processors.replay.republish import republish, target_codecs
from processors.replay.request import ReplayRequest
from processors.replay.times import TimeRange
from processors.replay.verify import verify
from schemas.registry import registry_client

__all__ = ["register"]


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name or not target:
            raise ReplayError(f"{option} {value!r}: expected NAME=TOPIC")
        pairs[name] = target
    return pairs


def _range_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", required=True, help="inclusive start: epoch ms or ISO-8601 (UTC if no offset)")
    parser.add_argument("--end", required=True, help="exclusive end: epoch ms or ISO-8601")
    parser.add_argument("--symbol", action="append", default=[], help="only this symbol (repeatable; default all)")


def _replay_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--topic", action="append", required=True, help="topic to replay (repeatable; its position breaks ties)"
    )
    _range_options(parser)
    parser.add_argument(
        "--lateness-ms",
        type=int,
        help="merge lateness for every topic (default per schema; 0 keeps each partition in offset order)",
    )
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", action="store_true", default=None, help="progress bar on stderr")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``replay`` command."""
    replay = commands.add_parser(
        "replay",
        help="replay a time range of raw and derived topics: files, re-publish, or verify",
        description="Read topics over an exchange-time range [start, end) at ms resolution, merged in exchange-"
        "time order with ties broken by topic order, partition, offset; two runs give identical output.",
    )
    actions = replay.add_subparsers(dest="action", required=True, metavar="ACTION")

    export = actions.add_parser("export", help="write JSON Lines or Parquet")
    _replay_options(export)
    export.add_argument("--format", choices=FORMATS, default="jsonl")
    export.add_argument("--split", choices=SPLITS, default="none", help="one file, per topic, or per topic/symbol")
    export.add_argument("--out", required=True, help="file (split none; '-' for stdout JSON Lines) or directory")
    export.set_defaults(handler=_export)

    publish = actions.add_parser("publish", help="re-publish into target topics at 1x, Nx or max speed")
    _replay_options(publish)
    publish.add_argument("--target", action="append", default=[], metavar="SOURCE=TARGET", help="repeatable")
    publish.add_argument("--target-suffix", help="target = source topic + this suffix, for topics without --target")
    publish.add_argument("--speed", type=Pacing.parse, default=Pacing(1.0), help="1 (default), 10x, 0.5x or max")
    publish.add_argument("--state", type=Path, help="resume position file: a rerun continues where this one stopped")
    publish.set_defaults(handler=_publish)

    check = actions.add_parser("verify", help="rerun a job's core over the raw range and diff its derived topics")
    check.add_argument("--job", required=True, choices=JOB_NAMES)
    check.add_argument("--raw-topic", required=True, help="the job's input topic")
    check.add_argument("--derived", action="append", default=[], metavar="SCHEMA=TOPIC", help="output topic override")
    _range_options(check)
    check.add_argument("--inverse", action="append", default=[], help="inverse contract (imbalance job; repeatable)")
    check.add_argument("--warmup-ms", type=int, help="raw input read before the range (default: longest window)")
    check.add_argument("--settle-ms", type=int, help="raw input read after the range (default: grace + 60 s)")
    check.set_defaults(handler=_verify)


def _request(args: argparse.Namespace) -> ReplayRequest:
    return ReplayRequest(tuple(args.topic), TimeRange.parse(args.start, args.end), tuple(args.symbol), args.lateness_ms)


def _progress(args: argparse.Namespace, request: ReplayRequest, label: str) -> Progress:
    enabled = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    return Progress(request.time_range, label, enabled)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    request = _request(args)
    endpoints = LocalStack(settings).endpoints
    with Replay(request, endpoints.bootstrap_servers, endpoints.schema_registry_url) as replay:
        progress = _progress(args, request, "export")
        last = [request.time_range.start_ms, 0]

        def advance(record: Replayed, count: int) -> None:
            last[:] = [record.merge_ts_ms, count]
            progress.update(record.merge_ts_ms, count)

        out: Path | Literal["-"] = "-" if args.out == "-" else Path(args.out)
        counts = write_files(replay, out, args.format, args.split, replay.schemas, advance)
        progress.close(last[0], last[1])
    total = sum(counts.values())
    where = "stdout" if out == "-" else f"{len(counts)} file(s) under {out}"
    print(f"replay: {total:,} record(s) in {request.time_range} to {where}", file=sys.stderr)
    return 0


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    request = _request(args)
    endpoints = LocalStack(settings).endpoints
    targets = _pairs(args.target, "--target")
    for topic in request.topics:
        if topic not in targets:
            if not args.target_suffix:
                raise ReplayError(f"no target for {topic}: give --target {topic}=TARGET or --target-suffix")
            targets[topic] = topic + args.target_suffix
    if set(targets) - set(request.topics):
        raise ReplayError(f"--target for topics not replayed: {sorted(set(targets) - set(request.topics))}")
    client = registry_client(endpoints.schema_registry_url)
    with Replay(request, endpoints.bootstrap_servers, client) as replay:
        codecs = target_codecs(client, replay.schemas, targets)
        identity = {
            "topics": list(request.topics),
            "targets": [targets[t] for t in request.topics],
            "range": [request.time_range.start_ms, request.time_range.end_ms],
            "symbols": list(request.symbols),
            "lateness_ms": request.lateness_ms,
        }
        position = PositionFile(args.state, identity) if args.state else None
        progress = _progress(args, request, "publish")
        result = republish(
            replay,
            endpoints.bootstrap_servers,
            codecs,
            args.speed,
            position,
            on_sent=lambda record, _wall, sent: progress.update(record.merge_ts_ms, sent),
        )
        end = result.position[0] if result.position else request.time_range.start_ms
        progress.close(end, result.sent)
    resumed = f", {result.skipped:,} already sent by an earlier run" if result.skipped else ""
    print(f"replay: {result.sent:,} record(s) published{resumed}; max {result.max_late_s * 1000:.1f} ms behind")
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    endpoints = LocalStack(settings).endpoints
    report = verify(
        args.job,
        args.raw_topic,
        TimeRange.parse(args.start, args.end),
        endpoints.bootstrap_servers,
        endpoints.schema_registry_url,
        _pairs(args.derived, "--derived"),
        tuple(args.symbol),
        tuple(args.inverse),
        args.warmup_ms,
        args.settle_ms,
    )
    print("\n".join(report.lines()))
    return 0 if report.ok else 1
