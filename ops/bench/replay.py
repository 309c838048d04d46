"""Replay throughput into the Python iterator vs a plain confluent-kafka consumer loop (``python -m ops.bench.replay``).

Both read the same records from the same fresh single-partition topic on the configured (or local) cluster:
the plain loop only fetches (``consume()`` batches, touching each value: the limit any Python reader has), the
replay also filters, merges and decodes every record into its typed dataclass. One process, one core.

Rates are given per wall second and per CPU second of the reading thread (``time.thread_time``: the Python
work, without librdkafka's fetch threads), which stays meaningful on a shared, loaded machine.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from ops import config
from ops.admin import Admin
from ops.bench.report import Figure
from ops.stack.local import Endpoints, LocalStack
from processors.replay import Replay, ReplayRequest, TimeRange
from schemas.catalog import RecordSchema, by_name
from schemas.records import Depth50, TickerV2
from schemas.registry import codec_for, registry_client

__all__ = ["Result", "figures", "main", "measure"]

T0_MS = 1_731_665_520_000
SYMBOLS = ("XBTUSDTM", "ETHUSDTM", "SOLUSDTM", "XRPUSDTM")


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall seconds and CPU seconds of the reading thread."""

    wall_s: float
    cpu_s: float


@dataclass(frozen=True, slots=True)
class Result:
    """Records per second of both readers over the same records."""

    name: str
    records: int
    replay: Timing
    plain: Timing

    def __str__(self) -> str:
        n = self.records
        lines = [f"{self.name:<9} {n:>9,} records"]
        for label, ours, limit in (
            ("wall", self.replay.wall_s, self.plain.wall_s),
            ("cpu", self.replay.cpu_s, self.plain.cpu_s),
        ):
            lines.append(
                f"  per {label:<4} second: replay {n / ours:>10,.0f}/s  plain consumer {n / limit:>10,.0f}/s  "
                f"ratio {limit / ours:6.1%}"
            )
        return "\n".join(lines)


def _timed(run: Callable[[], None]) -> Timing:
    wall, cpu = time.perf_counter(), time.thread_time()
    run()
    return Timing(time.perf_counter() - wall, time.thread_time() - cpu)


def tickers(count: int) -> Iterator[TickerV2]:
    """Realistic tickers: four symbols, one update per ms, real price and size text."""
    for i in range(count):
        ns = (T0_MS + i) * 1_000_000 + (i * 7919) % 1_000_000
        bid = 88_000 + (i * 31) % 500
        yield TickerV2(SYMBOLS[i % 4], 1_000_000 + i, f"{bid}.{i % 10}", str(1 + i % 900), f"{bid + 1}.0", "14", ns, ns)


def books(count: int) -> Iterator[Depth50]:
    """50-level books, one per ms."""
    for i in range(count):
        mid = 3_000 + (i * 13) % 200
        bids = tuple(f"{mid - 1 - level}.{(i + level) % 100:02d}" for level in range(50))
        asks = tuple(f"{mid + 1 + level}.{(i + level) % 100:02d}" for level in range(50))
        sizes = tuple(str(1 + (i * level) % 5_000) for level in range(50))
        yield Depth50(SYMBOLS[i % 4], 5_000_000 + i, bids, sizes, asks, sizes, T0_MS + i, (T0_MS + i) * 1_000_000)


def _fill(
    endpoints: Endpoints, topic: str, schema: RecordSchema, records: Iterator[Any], time_of: Callable[[Any], int]
) -> None:
    admin = Admin(endpoints.bootstrap_servers).client
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(timeout=30)
    codec = codec_for(registry_client(endpoints.schema_registry_url), schema, topic)
    producer = Producer({"bootstrap.servers": endpoints.bootstrap_servers, "linger.ms": 50, "compression.type": "lz4"})
    for record in records:
        while True:
            try:
                producer.produce(topic, codec.encode(record), record.symbol.encode(), timestamp=time_of(record))
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120) != 0:
        raise RuntimeError(f"{topic}: records left undelivered")


def plain_loop(bootstrap: str, topic: str, expected: int) -> None:
    """A bare consume() loop reading ``expected`` records, touching each value."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-plain",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    size = 0
    while seen < expected:
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                size += len(message.value() or b"")
                seen += 1
    consumer.close()


def replay_loop(endpoints: Endpoints, topic: str, count: int) -> None:
    """The replay iterator yielding ``count`` typed records (planning included)."""
    request = ReplayRequest((topic,), TimeRange(T0_MS, T0_MS + count))
    seen = 0
    with Replay(request, endpoints.bootstrap_servers, endpoints.schema_registry_url) as replay:
        for record in replay:
            if record.value:
                seen += 1
    if seen != count:
        raise RuntimeError(f"replay yielded {seen} records, expected {count}")


def measure(endpoints: Endpoints, name: str, count: int, rounds: int) -> Result:
    """Fill a fresh topic with ``count`` records, then time both readers (best of ``rounds``)."""
    schema = by_name(name)
    topic = f"bench-replay-{name}-{uuid.uuid4().hex[:8]}"
    records: Iterator[Any] = tickers(count) if name == "ticker_v2" else books(count)
    time_of: Callable[[Any], int] = (
        (lambda r: r.exchange_ts_ns // 1_000_000) if name == "ticker_v2" else (lambda r: r.exchange_ts_ms)
    )
    _fill(endpoints, topic, schema, records, time_of)
    try:
        plain = min(
            (_timed(lambda: plain_loop(endpoints.bootstrap_servers, topic, count)) for _ in range(rounds)),
            key=lambda t: t.cpu_s,
        )
        ours = min((_timed(lambda: replay_loop(endpoints, topic, count)) for _ in range(rounds)), key=lambda t: t.cpu_s)
    finally:
        Admin(endpoints.bootstrap_servers).client.delete_topics([topic])
    return Result(name, count, ours, plain)


def figures(tickers_count: int = 200_000, books_count: int = 30_000, rounds: int = 2) -> list[Figure]:
    """Records/s per CPU-second of the reading thread: the replay iterator (ours) and a plain consumer (limit)."""
    endpoints = LocalStack(config.load()).endpoints
    out = []
    for name, count, case in (
        ("ticker_v2", tickers_count, "tickerV2 decoded into the iterator"),
        ("depth50", books_count, "Depth50 decoded into the iterator"),
    ):
        result = measure(endpoints, name, count, rounds)
        out.append(Figure("replay", case, "ours", count / result.replay.cpu_s, "records/s", "per CPU-second"))
        out.append(Figure("replay", case, "limit", count / result.plain.cpu_s, "records/s", "plain consumer loop"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, default=500_000)
    parser.add_argument("--books", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per reader; the best counts")
    args = parser.parse_args(argv)
    endpoints = LocalStack(config.load()).endpoints
    print("targets: tickerV2 >= 200,000/s, Depth50 >= 30,000/s decoded into the replay iterator (one core)")
    for name, count in (("ticker_v2", args.tickers), ("depth50", args.books)):
        print(measure(endpoints, name, count, args.rounds), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
