"""Throughput and latency of one processing worker, exactly-once vs at-least-once: ``python -m ops.bench.processors``.

A measurement to report, not a test. Against the local stack (or KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL):

- throughput: N input records are written first, then one worker process (``kucoin-kafka process``) consumes
  them; the rate is taken between 10 % and 100 % of the input committed, so start-up is left out;
- latency (imbalance only): Depth50 books of the whole market's 680 contracts are written at its rate (6,800/s by
  default) with the exchange time set to the wall clock, and a read_committed consumer of the imbalance topic
  records, per snapshot, when it became visible minus its exchange time (the snapshot's Kafka timestamp).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from ops import config
from ops.admin import Admin
from ops.arguments import positive_number
from ops.bench.report import Figure
from ops.stack.local import Endpoints, LocalStack
from processors.jobs import job
from schemas.records import Depth50, TickerV2
from schemas.registry import codec_for, registry_client

__all__ = ["main"]

FULL_MARKET = 680
"""Contracts of the whole KuCoin Futures market: at 10 Depth50 pushes a second each, ~6,800 books/s."""
PARTITIONS = 3


def _symbols(count: int) -> tuple[str, ...]:
    return tuple(f"S{i:03d}USDTM" for i in range(count))


SYMBOLS = _symbols(50)


def _name(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


def _ticker(rng: random.Random, index: int, now_ms: int, symbols: tuple[str, ...] = SYMBOLS) -> TickerV2:
    bid = 900_000 + rng.randint(-50, 50)
    ns = now_ms * 1_000_000 + index
    return TickerV2(
        symbols[index % len(symbols)], index, f"{bid / 10:.1f}", "10", f"{(bid + 1) / 10:.1f}", "12", ns, ns
    )


_Levels = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _levels(rng: random.Random) -> _Levels:
    """Bid prices and sizes, ask prices and sizes of a new 50-level book."""
    best = 900_000 + rng.randint(-30, 30)
    return (
        tuple(f"{(best - k) / 10:.1f}" for k in range(50)),
        tuple(str(rng.randint(1, 3000)) for _ in range(50)),
        tuple(f"{(best + 1 + k) / 10:.1f}" for k in range(50)),
        tuple(str(rng.randint(1, 3000)) for _ in range(50)),
    )


def _depth(
    rng: random.Random, index: int, now_ms: int, symbols: tuple[str, ...] = SYMBOLS, levels: _Levels | None = None
) -> Depth50:
    """Book ``index`` (its sequence: every book is new), of the symbols in turn."""
    return Depth50(symbols[index % len(symbols)], index, *(levels or _levels(rng)), now_ms, now_ms * 1_000_000)


@dataclass
class _Setup:
    endpoints: Endpoints
    job: str
    guarantee: str
    input_topic: str
    outputs: dict[str, str]
    group: str

    def worker(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "ops.cli", "process", self.job, "--input", self.input_topic]
        command += ["--group-id", self.group, "--guarantee", self.guarantee, "--metrics-port", "0"]
        for schema, topic in self.outputs.items():
            command += ["--output", f"{schema}={topic}"]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def committed(self, consumer: Consumer) -> int:
        """Input records the group committed, read through ``consumer`` (of the group, kept open between reads)."""
        tps = [TopicPartition(self.input_topic, p) for p in range(PARTITIONS)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=30))


def _setup(endpoints: Endpoints, name: str, guarantee: str) -> _Setup:
    spec = job(name)
    setup = _Setup(
        endpoints,
        name,
        guarantee,
        _name(f"in-{name}"),
        {schema: _name(schema) for schema in spec.default_topics()},
        _name(f"group-{name}"),
    )
    admin = Admin(endpoints.bootstrap_servers).client
    for future in admin.create_topics([NewTopic(setup.input_topic, PARTITIONS, 1)]).values():
        future.result(timeout=30)
    return setup


def _producer(setup: _Setup) -> tuple[Producer, Callable[[Any], None]]:
    spec = job(setup.job)
    codec = codec_for(registry_client(setup.endpoints.schema_registry_url), spec.input, setup.input_topic)
    producer = Producer({"bootstrap.servers": setup.endpoints.bootstrap_servers, "linger.ms": 5})

    def send(record: Any) -> None:
        while True:
            try:
                producer.produce(setup.input_topic, codec.encode(record), record.symbol.encode())
                return
            except BufferError:
                producer.poll(0.01)

    return producer, send


def throughput(endpoints: Endpoints, name: str, guarantee: str, count: int) -> float:
    """Input records per second one worker commits, start-up excluded: from the first look at the group's commits
    that finds 10 % of the input to the first that finds all of it (every 20 ms)."""
    setup = _setup(endpoints, name, guarantee)
    producer, send = _producer(setup)
    make = _depth if name == "imbalance" else _ticker
    rng = random.Random(1)
    now = int(time.time() * 1000)
    for index in range(count):
        send(make(rng, index, now + index // 10))
    producer.flush(120)
    reader = Consumer({"bootstrap.servers": endpoints.bootstrap_servers, "group.id": setup.group})
    worker = setup.worker()
    try:
        looks = [(time.monotonic(), setup.committed(reader))]
        while looks[-1][1] < count:
            time.sleep(0.02)
            looks.append((time.monotonic(), setup.committed(reader)))
        first = next(i for i, (_, done) in enumerate(looks) if done >= count * 0.1)
        start, started_at = looks[min(first, len(looks) - 2)]  # the look before the end if the 10 % look is it
        end, done = looks[-1]
        return (done - started_at) / (end - start)
    finally:
        reader.close()
        worker.terminate()
        worker.wait(60)


def latency(endpoints: Endpoints, guarantee: str, rate: int, seconds: float, symbols: int = FULL_MARKET) -> list[float]:
    """Milliseconds from exchange time to read_committed visibility of each imbalance snapshot, with books of
    ``symbols`` contracts in turn written at ``rate`` a second (their exchange time the wall clock)."""
    setup = _setup(endpoints, "imbalance", guarantee)
    producer, send = _producer(setup)
    worker = setup.worker()
    samples: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": endpoints.bootstrap_servers,
                "group.id": _name("latency"),
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([setup.outputs["imbalance"]])
        while not stop.is_set():
            for message in consumer.consume(1000, 0.05):
                if message.error() is None:  # a snapshot's Kafka timestamp is its exchange time
                    samples.append(time.time() * 1000 - message.timestamp()[1])
        consumer.close()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        time.sleep(8)  # worker start-up, outside the measurement
        rng = random.Random(2)
        books = [_levels(rng) for _ in range(1_000)]  # generated beforehand: the writer must keep up with the rate
        names = _symbols(symbols)
        start = time.monotonic()
        index = 0
        while (elapsed := time.monotonic() - start) < seconds:
            now_ms = int(time.time() * 1000)
            while index < elapsed * rate:
                send(_depth(rng, index, now_ms, names, books[index % len(books)]))
                index += 1
            producer.poll(0)
            time.sleep(0.002)
        producer.flush(30)
        time.sleep(3)
    finally:
        stop.set()
        reader.join(10)
        worker.terminate()
        worker.wait(60)
    return samples[len(samples) // 10 :]  # the first tenth warms up


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def core_rate(name: str, count: int, symbols: int = 100) -> float:
    """Events/s of the job's pure core with Avro decode in front (a fetched batch at a time, as a worker does) and
    encode behind: the ceiling of one worker."""
    from processors.core.imbalance import ImbalanceProcessor
    from processors.core.ticker_bars import TickerBarProcessor
    from schemas.catalog import DERIVED_SCHEMAS, by_name
    from schemas.codec import AvroCodec

    rng = random.Random(5)
    now_ms = 1_731_665_520_000
    names = _symbols(symbols)
    make = _ticker if name == "ticker-bars" else _depth
    schema = by_name("ticker_v2" if name == "ticker-bars" else "depth50")
    codec: AvroCodec[Any] = AvroCodec(schema, 1)
    payloads = [codec.encode(make(rng, index, now_ms + index // symbols, names)) for index in range(count)]
    processor = TickerBarProcessor() if name == "ticker-bars" else ImbalanceProcessor()
    encoders: dict[type, AvroCodec[Any]] = {derived.record_type: AvroCodec(derived, 2) for derived in DERIVED_SCHEMAS}
    started = time.perf_counter()
    for batch in range(0, count, _FETCH_BATCH):
        for record in codec.decode_many(payloads[batch : batch + _FETCH_BATCH]):
            for output in processor.process(record):
                encoders[type(output)].encode(output)
    return count / (time.perf_counter() - started)


_FETCH_BATCH = 500
"""Records per decoded batch in :func:`core_rate`: about what one fetch brings per partition."""


def figures(scale: float = 1.0) -> list[Figure]:
    """Per job: at-least-once (baseline), exactly-once (ours) and the pure core (limit); p99 latency; scaling."""
    endpoints = LocalStack(config.load()).endpoints
    out: list[Figure] = []
    # The imbalance worker's input is long enough (~8 s) that its first commit, which may come late, does not sway
    # the rate; the core's is shorter (its payloads are held in memory).
    for name, count, core_count, case in (
        ("ticker-bars", int(600_000 * scale), int(600_000 * scale), "ticker-bars, tickerV2 events"),
        ("imbalance", int(150_000 * scale), int(40_000 * scale), "imbalance, Depth50 events (every book new)"),
    ):
        out.append(
            Figure("processors", case, "baseline", throughput(endpoints, name, "at_least_once", count), "events/s")
        )
        out.append(Figure("processors", case, "ours", throughput(endpoints, name, "exactly_once", count), "events/s"))
        out.append(Figure("processors", case, "limit", core_rate(name, core_count), "events/s", "pure core + Avro"))
    rate = FULL_MARKET * 10
    samples = latency(endpoints, "exactly_once", rate, max(5.0, 15 * scale))
    note = f"exchange time -> visible to read_committed, at {rate:,} Depth50/s over {FULL_MARKET} contracts"
    out.append(Figure("processors", "imbalance p99 latency", "ours", _p(samples, 0.99), "ms", note))
    for symbols in (10, 100, 700):
        out.append(
            Figure(
                "scaling",
                f"imbalance core, {symbols} symbols",
                "limit",
                core_rate("imbalance", 20_000, symbols),
                "events/s",
            )
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticker", type=int, default=600_000, help="tickerV2 records for the throughput run")
    parser.add_argument("--depth", type=int, default=40_000, help="Depth50 records for the throughput run")
    parser.add_argument("--rate", type=int, default=FULL_MARKET * 10, help="Depth50 per second for the latency run")
    parser.add_argument("--symbols", type=int, default=FULL_MARKET, help="contracts of the latency run")
    parser.add_argument("--seconds", type=positive_number, default=20.0, help="length of the latency run")
    args = parser.parse_args(argv)
    endpoints = LocalStack(config.load()).endpoints
    for name, count in (("ticker-bars", args.ticker), ("imbalance", args.depth)):
        rates = {g: throughput(endpoints, name, g, count) for g in ("exactly_once", "at_least_once")}
        ratio = rates["exactly_once"] / rates["at_least_once"]
        print(
            f"{name:12s} exactly-once {rates['exactly_once']:>8,.0f}/s  at-least-once {rates['at_least_once']:>8,.0f}/s"
            f"  ratio {ratio:.2f}",
            flush=True,
        )
    for guarantee in ("exactly_once", "at_least_once"):
        samples = latency(endpoints, guarantee, args.rate, args.seconds, args.symbols)
        print(
            f"latency {guarantee:13s} at {args.rate}/s over {args.symbols} contracts: n={len(samples)} "
            f"p50 {_p(samples, 0.5):.0f} ms p99 {_p(samples, 0.99):.0f} ms "
            f"max {max(samples, default=float('nan')):.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
