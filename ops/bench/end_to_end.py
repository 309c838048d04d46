"""End-to-end latency (``python -m ops.bench.end_to_end``): exchange event time of a Depth50 book to its derived
imbalance record being visible to a ``read_committed`` consumer, through the real jobs.

The fake exchange runs at real speed in its own process, the ``produce`` job and an exactly-once ``process
imbalance`` worker each in theirs (as in production), all on this machine's local stack; a consumer here reads
the imbalance topic and takes, per record, its arrival time minus the book's exchange time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from typing import Any

from confluent_kafka import Consumer

from ops import config
from ops.arguments import positive_number
from ops.bench.fake_exchange import fake_exchange_process
from ops.bench.report import Figure
from ops.connections import kafka_config
from ops.stack.local import LocalStack
from schemas.catalog import by_name
from schemas.codec import AvroCodec
from schemas.registry import registry_client

__all__ = ["figures", "main"]


def _job(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def latencies_ms(symbols: int, seconds: float, warmup_s: float) -> list[float]:
    """Per imbalance record seen after the warm-up: visible time minus the book's exchange time, in ms."""
    endpoints = LocalStack(config.load()).endpoints
    base = f"bench-e2e-{uuid.uuid4().hex[:8]}"
    raw = {"ticker": f"{base}.tickerv2", "depth": f"{base}.depth50", "dead": f"{base}.deadletter"}
    derived = {name: f"{base}.{name}" for name in ("imbalance", "imbalance_bar", "late_event")}
    registry = registry_client(endpoints.schema_registry_url)
    with fake_exchange_process(symbols, max_rate=False) as (rest_url, _):
        producer = _job(
            "produce", "--rest-url", rest_url, "--symbols", "all", "--streams", "level2Depth50", "--metrics-port",
            "0", "--ticker-topic", raw["ticker"], "--depth-topic", raw["depth"], "--dead-letter-topic", raw["dead"],
            "--spill-dir", f"/tmp/{base}-spill",
        )  # fmt: skip
        time.sleep(3)  # the producer creates the raw topics the worker co-partitions with
        outputs = [arg for name, topic in derived.items() for arg in ("--output", f"{name}={topic}")]
        worker = _job(
            "process", "imbalance", "--input", raw["depth"], *outputs, "--group-id", base, "--metrics-port", "0"
        )
        try:
            return _measure(endpoints.bootstrap_servers, derived["imbalance"], registry, seconds, warmup_s)
        finally:
            for job in (worker, producer):
                job.terminate()
            for job in (worker, producer):
                job.wait(60)


def _measure(bootstrap: str, topic: str, registry: Any, seconds: float, warmup_s: float) -> list[float]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the worker creates the output topic once the input exists
        try:
            schema_id = registry.get_latest_version(f"{topic}-value").schema_id
            break
        except Exception:  # not registered yet
            time.sleep(0.5)
    else:
        raise RuntimeError(f"the imbalance worker never registered {topic}")
    codec: AvroCodec[Any] = AvroCodec(by_name("imbalance"), schema_id)
    consumer = Consumer(
        kafka_config(
            bootstrap,
            {"group.id": f"{topic}-latency", "isolation.level": "read_committed", "auto.offset.reset": "latest"},
        )
    )
    consumer.subscribe([topic])
    samples: list[float] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < warmup_s + seconds:
            for msg in consumer.consume(500, 0.2):
                if msg.error() is not None or msg.value() is None:
                    continue
                seen_ms = time.time() * 1000
                if time.monotonic() - started >= warmup_s:
                    samples.append(seen_ms - codec.decode_datum(msg.value() or b"")["exchange_ts_ms"])
    finally:
        consumer.close()
    return samples


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def figures(symbols: int = 50, seconds: float = 20.0, warmup_s: float = 10.0) -> list[Figure]:
    """p50 and p99 of the end-to-end latency at the fake market's real speed."""
    samples = latencies_ms(symbols, seconds, warmup_s)
    note = f"{symbols} symbols at real speed (~{symbols * 10} Depth50/s sent), {len(samples):,} records"
    return [
        Figure("end to end", "Depth50 exchange time -> imbalance visible, p50", "ours", _p(samples, 0.5), "ms", note),
        Figure("end to end", "Depth50 exchange time -> imbalance visible, p99", "ours", _p(samples, 0.99), "ms", note),
    ]


def main(argv: list[str] | None = None) -> int:
    """Print p50 and p99."""
    parser = argparse.ArgumentParser(prog="python -m ops.bench.end_to_end", description=__doc__)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--seconds", type=positive_number, default=20.0)
    args = parser.parse_args(argv)
    for figure in figures(args.symbols, args.seconds):
        print(figure.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
