"""``kucoin-kafka run``: the whole pipeline on the local stack, in one command.

Stack up, topics and schemas provisioned, then each job as its own process, as in production (a container per
job): optionally the fake exchange, the producer, the kline backfill (following live), and one worker per
processor. Derived bars and imbalance are printed as they arrive (read_committed). Ctrl-C (or ``--duration``)
stops every job with SIGTERM, so each flushes; a job that dies is restarted, up to a limit.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from ops.admin import Admin
from ops.arguments import non_negative_number, positive_number
from ops.config import Settings
from ops.display import DerivedView, describe
from ops.stack.local import Endpoints, LocalStack
from ops.topics import default_specs, ensure_topics
from schemas.catalog import ALL_SCHEMAS
from schemas.registry import ensure_registered, registry_client

__all__ = ["register"]

MAX_RESTARTS = 5
DEFAULT_SYMBOLS = "XBTUSDTM,ETHUSDTM,SOLUSDTM,XRPUSDTM"
STOP_GRACE_S = 40.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` command."""
    run = commands.add_parser(
        "run",
        help="run the whole pipeline on the local stack and show derived bars and imbalance as they arrive",
        description="Bring the local stack up (or use KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL), provision "
        "topics and schemas, start the producer against KuCoin Futures (or the fake exchange with --fake-exchange, "
        "for machines without internet), the kline backfill and the processors, each as its own process with its "
        "log in $KUCOIN_KAFKA_HOME/logs/pipeline/. Ctrl-C stops everything cleanly.",
    )
    run.add_argument(
        "--fake-exchange",
        action="store_true",
        help="start the project's fake KuCoin exchange and stream from it instead of the real API",
    )
    run.add_argument(
        "--symbols",
        help=f"symbols/globs or 'all' to stream (default {DEFAULT_SYMBOLS}; with --fake-exchange: all)",
    )
    run.add_argument("--fake-symbols", type=int, default=20, help="contracts the fake exchange lists (default 20)")
    run.add_argument("--show", help="only print derived records of these comma-separated symbols")
    run.add_argument("--duration", type=positive_number, help="stop after this many seconds (default: until Ctrl-C)")
    run.add_argument("--no-processors", action="store_true", help="only produce raw data")
    run.add_argument(
        "--backfill-hours", type=non_negative_number, default=6.0, help="hours of 1-minute klines to backfill (6)"
    )
    run.set_defaults(handler=_run)


@dataclass
class _Job:
    """One pipeline process, restarted if it dies."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.started_at = time.monotonic()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ops.cli", *args]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _provision(endpoints: Endpoints) -> None:
    ensure_topics(Admin(endpoints.bootstrap_servers), default_specs())
    registry = registry_client(endpoints.schema_registry_url)
    for schema in ALL_SCHEMAS:
        ensure_registered(registry, schema, schema.default_topic)


def _jobs(args: argparse.Namespace, symbols: str, logs: Path, rest_url: str) -> list[_Job]:
    backfill_from_ms = int((time.time() - args.backfill_hours * 3600) * 1000)
    backfill = ["--rest-url", rest_url, "--symbols", symbols, "--granularity", "1", "--start", str(backfill_from_ms)]
    backfill.append("--follow")
    jobs = [
        _Job("produce", _cli("produce", "--rest-url", rest_url, "--symbols", symbols), logs / "produce.log"),
        _Job("backfill", _cli("backfill", *backfill), logs / "backfill.log"),
    ]
    if not args.no_processors:
        jobs += [
            _Job(name, _cli("process", name, "--log-level", "WARNING"), logs / f"{name}.log")
            for name in ("ticker-bars", "imbalance", "kline-bars")
        ]
    return jobs


def _run(args: argparse.Namespace, settings: Settings) -> int:
    endpoints = LocalStack(settings).up()
    _provision(endpoints)
    logs = settings.home / "logs" / "pipeline"
    jobs: list[_Job] = []
    rest_url = settings.kucoin_rest_url
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    code = 0
    view: DerivedView | None = None
    try:  # from the first job on, whatever happens, every started job is stopped
        if args.fake_exchange:
            port = _free_port()
            fake_argv = ["fake-exchange", "--port", str(port), "--symbols", str(args.fake_symbols), "--seed", "1"]
            jobs.append(_Job("fake-exchange", _cli(*fake_argv), logs / "fake-exchange.log"))
            jobs[0].start()
            rest_url = f"http://127.0.0.1:{port}"
            _wait_http(f"{rest_url}/api/v1/timestamp", 30)
        symbols = args.symbols or ("all" if args.fake_exchange else DEFAULT_SYMBOLS)
        for job in _jobs(args, symbols, logs, rest_url):
            jobs.append(job)
            job.start()
        print(f"pipeline running ({', '.join(job.name for job in jobs)}); logs in {logs}; Ctrl-C stops it")
        shown = frozenset(args.show.split(",")) if args.show else None
        view = DerivedView(endpoints.bootstrap_servers, endpoints.schema_registry_url, symbols=shown)
        ends_at = None if args.duration is None else time.monotonic() + args.duration
        while not stopping and (ends_at is None or time.monotonic() < ends_at):
            view.poll(_print)
            code = _supervise(jobs)
            if code:
                break
    finally:
        if view is not None:
            view.close()
        for job in reversed(jobs):
            job.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for job in reversed(jobs):
            job.wait(deadline)
        print(f"pipeline stopped; logs in {logs}")
    return code


def _print(record: object) -> None:
    line = describe(record)
    if line is not None:
        print(line, flush=True)


def _supervise(jobs: Sequence[_Job]) -> int:
    """Restart a job that died (up to a limit); returns 1 when one keeps dying."""
    for job in jobs:
        if job.process is None or job.process.poll() is None:
            continue
        if job.restarts >= MAX_RESTARTS:
            print(f"{job.name} keeps failing (exit {job.process.returncode}); see {job.log}", file=sys.stderr)
            return 1
        job.restarts += 1
        print(f"{job.name} exited ({job.process.returncode}); restarting ({job.restarts}/{MAX_RESTARTS})")
        job.start()
    return 0
