"""The broker's own limit (``python -m ops.bench.broker``): Kafka's ``kafka-producer-perf-test`` beside a plain
confluent-kafka loop producing the same pre-encoded records, with the producer settings of our publisher.

This is the ceiling every Python figure of the suite is compared with: what this machine's broker takes when the
client does nothing but send.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from ops import config
from ops.admin import Admin
from ops.bench.report import Figure
from ops.stack.install import install_kafka
from ops.stack.java import find_java
from ops.stack.local import LocalStack
from producers.publisher.kafka import PublisherConfig

__all__ = ["figures", "main"]

_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency")


def _topic(bootstrap: str) -> str:
    name = f"bench-broker-{uuid.uuid4().hex[:8]}"
    admin = Admin(bootstrap).client
    for future in admin.create_topics([NewTopic(name, num_partitions=6, replication_factor=1)]).values():
        future.result(timeout=30)
    return name


def perf_test(bootstrap: str, records: int, size: int) -> float:
    """records/s of Kafka's own Java producer (acks=all, idempotent, lz4), as its summary line reports."""
    settings = config.load()
    libs = install_kafka(settings.home)
    java = find_java(17, settings.java_home, "kafka-producer-perf-test")
    argv = [
        str(java), "-Xmx512m", "-cp", f"{libs}/*", "org.apache.kafka.tools.ProducerPerformance",
        "--topic", _topic(bootstrap), "--num-records", str(records), "--record-size", str(size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "enable.idempotence=true", "compression.type=lz4", "linger.ms=20", "batch.size=1000000",
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True).stdout
    summary = _PERF_LINE.findall(out)
    if not summary:
        raise RuntimeError(f"no summary line in kafka-producer-perf-test output:\n{out[-2000:]}")
    return float(summary[-1][1])


def python_raw(bootstrap: str, records: int, size: int) -> float:
    """records/s of confluent-kafka producing pre-encoded bytes with the publisher's settings, to broker ack."""
    producer = Producer(PublisherConfig(bootstrap).librdkafka())
    topic = _topic(bootstrap)
    payload = random.Random(1).randbytes(size)  # like the perf test: one random payload, sent again and again
    keys = [f"SYM{i:03d}USDTM".encode() for i in range(100)]
    started = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, payload, keys[i % 100])
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    return records / (time.perf_counter() - started)


def figures(records: int = 1_000_000, size: int = 300) -> list[Figure]:
    """The broker's limit measured two ways: Kafka's Java perf test and the Python client sending raw bytes."""
    bootstrap = LocalStack(config.load()).endpoints.bootstrap_servers
    note = f"{size}-byte records, acks=all, idempotent, lz4"
    return [
        Figure(
            "broker", "kafka-producer-perf-test (Java)", "limit", perf_test(bootstrap, records, size), "records/s", note
        ),
        Figure(
            "broker", "confluent-kafka, raw bytes", "limit", python_raw(bootstrap, records, size), "records/s", note
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the broker's limit beside the Python client's."""
    parser = argparse.ArgumentParser(prog="python -m ops.bench.broker", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=300, help="bytes per record (a Depth50 record is ~1.2 kB)")
    args = parser.parse_args(argv)
    for figure in figures(args.records, args.size):
        print(figure.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
