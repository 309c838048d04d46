"""Throughput and latency of one processing worker, exactly-once vs at-least-once: ``python -m ops.bench.processors``.

A measurement to report, not a test. Against the local stack (or KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL):

- throughput: N input records are written first, then one worker process (``kucoin-kafka process``) consumes
  them; the rate is taken between 10 % and 100 % of the input committed, so start-up is left out;
- latency (imbalance only): Depth50 books are written at a fixed rate with the exchange time set to the wall clock,
  and a read_committed consumer of the imbalance topic records, per snapshot, when it became visible minus its
  exchange time.
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
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ops import config
from ops.bench.report import Figure
from ops.stack.local import Endpoints, LocalStack
from processors.jobs import job
from schemas.derived import Imbalance
from schemas.records import Depth50, TickerV2
from schemas.registry import codec_for, registry_client

__all__ = ["main"]

SYMBOLS = tuple(f"S{i:03d}USDTM" for i in range(50))
PARTITIONS = 3


def _name(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


def _ticker(rng: random.Random, index: int, now_ms: int) -> TickerV2:
    bid = 900_000 + rng.randint(-50, 50)
    ns = now_ms * 1_000_000 + index
    return TickerV2(
        SYMBOLS[index % len(SYMBOLS)], index, f"{bid / 10:.1f}", "10", f"{(bid + 1) / 10:.1f}", "12", ns, ns
    )


def _depth(rng: random.Random, index: int, now_ms: int) -> Depth50:
    best = 900_000 + rng.randint(-30, 30)
    return Depth50(
        SYMBOLS[index % len(SYMBOLS)],
        index,
        tuple(f"{(best - k) / 10:.1f}" for k in range(50)),
        tuple(str(rng.randint(1, 3000)) for _ in range(50)),
        tuple(f"{(best + 1 + k) / 10:.1f}" for k in range(50)),
        tuple(str(rng.randint(1, 3000)) for _ in range(50)),
        now_ms,
        now_ms * 1_000_000,
    )


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

    def committed(self) -> int:
        consumer = Consumer({"bootstrap.servers": self.endpoints.bootstrap_servers, "group.id": self.group})
        try:
            tps = [TopicPartition(self.input_topic, p) for p in range(PARTITIONS)]
            return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=30))
        finally:
            consumer.close()


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
    admin = AdminClient({"bootstrap.servers": endpoints.bootstrap_servers})
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
    """Input records per second one worker commits, start-up excluded."""
    setup = _setup(endpoints, name, guarantee)
    producer, send = _producer(setup)
    make = _depth if name == "imbalance" else _ticker
    rng = random.Random(1)
    now = int(time.time() * 1000)
    for index in range(count):
        send(make(rng, index, now + index // 10))
    producer.flush(120)
    worker = setup.worker()
    try:
        while setup.committed() < count * 0.1:
            time.sleep(0.1)
        start, first = time.monotonic(), setup.committed()
        while (done := setup.committed()) < count:
            time.sleep(0.1)
        return (done - first) / (time.monotonic() - start)
    finally:
        worker.terminate()
        worker.wait(60)


def latency(endpoints: Endpoints, guarantee: str, rate: int, seconds: float) -> list[float]:
    """Milliseconds from exchange time to read_committed visibility of each imbalance snapshot."""
    setup = _setup(endpoints, "imbalance", guarantee)
    producer, send = _producer(setup)
    worker = setup.worker()
    codec = codec_for(registry_client(endpoints.schema_registry_url), job("imbalance").outputs[Imbalance].schema, "x")
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
            message = consumer.poll(0.05)
            value = None if message is None or message.error() else message.value()
            if value is not None:
                samples.append(time.time() * 1000 - codec.decode_datum(value)["exchange_ts_ms"])
        consumer.close()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        time.sleep(8)  # worker start-up, outside the measurement
        rng = random.Random(2)
        start = time.monotonic()
        index = 0
        while (elapsed := time.monotonic() - start) < seconds:
            while index < elapsed * rate:
                send(_depth(rng, index, int(time.time() * 1000)))
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
    """Events/s of the job's pure core with Avro decode in front and encode behind: the ceiling of one worker."""
    from processors.core.imbalance import ImbalanceProcessor
    from processors.core.ticker_bars import TickerBarProcessor
    from schemas.catalog import by_name
    from schemas.codec import AvroCodec

    rng = random.Random(5)
    now_ms = 1_731_665_520_000
    make = _ticker if name == "ticker-bars" else _depth
    schema = by_name("ticker_v2" if name == "ticker-bars" else "depth50")
    codec: AvroCodec[Any] = AvroCodec(schema, 1)
    payloads = [codec.encode(make(rng, index % symbols, now_ms + index // symbols)) for index in range(count)]
    processor = TickerBarProcessor() if name == "ticker-bars" else ImbalanceProcessor()
    encoders: dict[type, AvroCodec[Any]] = {}
    started = time.perf_counter()
    for payload in payloads:
        for output in processor.process(codec.decode(payload)):
            encoder = encoders.get(type(output))
            if encoder is None:
                from schemas.catalog import DERIVED_SCHEMAS

                found = next(s for s in DERIVED_SCHEMAS if s.record_type is type(output))
                encoder = encoders[type(output)] = AvroCodec(found, 2)
            encoder.encode(output)
    return count / (time.perf_counter() - started)


def figures(scale: float = 1.0) -> list[Figure]:
    """Per job: at-least-once (baseline), exactly-once (ours) and the pure core (limit); p99 latency; scaling."""
    endpoints = LocalStack(config.load()).endpoints
    out: list[Figure] = []
    for name, count, case in (
        ("ticker-bars", int(150_000 * scale), "ticker-bars, tickerV2 events"),
        ("imbalance", int(40_000 * scale), "imbalance, Depth50 events (every book new)"),
    ):
        out.append(
            Figure("processors", case, "baseline", throughput(endpoints, name, "at_least_once", count), "events/s")
        )
        out.append(Figure("processors", case, "ours", throughput(endpoints, name, "exactly_once", count), "events/s"))
        out.append(Figure("processors", case, "limit", core_rate(name, count), "events/s", "pure core + Avro"))
    rate = 1_000
    samples = latency(endpoints, "exactly_once", rate, max(5.0, 15 * scale))
    note = f"exchange time -> visible to read_committed, at {rate} Depth50/s"
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
    parser.add_argument("--ticker", type=int, default=150_000, help="tickerV2 records for the throughput run")
    parser.add_argument("--depth", type=int, default=40_000, help="Depth50 records for the throughput run")
    parser.add_argument("--rate", type=int, default=6_800, help="Depth50 per second for the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
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
        samples = latency(endpoints, guarantee, args.rate, args.seconds)
        print(
            f"latency {guarantee:13s} at {args.rate}/s: n={len(samples)} p50 {_p(samples, 0.5):.0f} ms "
            f"p99 {_p(samples, 0.99):.0f} ms max {max(samples, default=float('nan')):.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
