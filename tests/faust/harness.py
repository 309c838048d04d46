"""Drive real processing workers for the Faust tests: input in, worker processes, read_committed output, golden.

The golden output is the pure core run offline over each input partition in offset order, exactly as one worker
sees it, encoded with the same codecs: comparing bytes compares every field value.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from processors.jobs import JobSpec
from schemas.codec import AvroCodec
from schemas.registry import codec_for, registry_client
from tests.support.kafka import create_topics, read_all, unique_name

__all__ = [
    "Job",
    "Record",
    "Worker",
    "end_offsets",
    "golden",
    "log_tail",
    "produce",
    "read_output",
    "running",
    "supervise",
    "wait_committed",
]

Record = tuple[bytes, bytes, int]
"""(key, value, timestamp ms) of one output record."""
Output = dict[tuple[str, int], list[Record]]
"""(topic, partition) -> records in offset order."""

_WORKER_MAIN = "tests.faust.worker_main"


@dataclass
class Job:
    """One job's topics for one test: the input, an output per derived schema, and a fresh group."""

    spec: JobSpec
    bootstrap: str
    registry: str
    partitions: int
    input_topic: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    group: str = ""
    create_input: bool = True

    def __post_init__(self) -> None:
        self.input_topic = self.input_topic or unique_name(f"in-{self.spec.name}")
        self.outputs = self.outputs or {name: unique_name(f"out-{name}") for name in self.spec.default_topics()}
        self.group = self.group or unique_name(f"group-{self.spec.name}")
        if self.create_input:
            create_topics(self.bootstrap, [self.input_topic], self.partitions)

    def fresh_outputs(self) -> Job:
        """The same input into new output topics with a new group (a replay)."""
        return Job(self.spec, self.bootstrap, self.registry, self.partitions, self.input_topic, create_input=False)

    def input_codec(self) -> AvroCodec[Any]:
        return codec_for(registry_client(self.registry), self.spec.input, self.input_topic)

    def output_codecs(self) -> dict[type, tuple[str, AvroCodec[Any]]]:
        client = registry_client(self.registry)
        return {
            kind: (self.outputs[out.schema.name], codec_for(client, out.schema, self.outputs[out.schema.name]))
            for kind, out in self.spec.outputs.items()
        }

    def command(self, *extra: str) -> list[str]:
        args = [sys.executable, "-m", _WORKER_MAIN, self.bootstrap, self.registry, self.spec.name]
        args += ["--input", self.input_topic, "--group-id", self.group, "--metrics-port", "0"]
        for schema, topic in self.outputs.items():
            args += ["--output", f"{schema}={topic}"]
        return [*args, *extra]


def produce(job: Job, records: Sequence[Any]) -> dict[int, int]:
    """Write ``records`` to the input, partition = symbol's rank mod partitions; returns the end offset of each
    partition (the offset after its last record)."""
    codec = job.input_codec()
    symbols = sorted({record.symbol for record in records})
    partition_of = {symbol: index % job.partitions for index, symbol in enumerate(symbols)}
    producer = Producer({"bootstrap.servers": job.bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for record in records:
        while True:
            try:
                producer.produce(
                    job.input_topic, codec.encode(record), record.symbol.encode(), partition=partition_of[record.symbol]
                )
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60) != 0:
        raise RuntimeError("input not delivered")
    return end_offsets(job)


def end_offsets(job: Job) -> dict[int, int]:
    """The input's end offset per partition."""
    consumer = Consumer({"bootstrap.servers": job.bootstrap, "group.id": unique_name("ends")})
    try:
        tps = [TopicPartition(job.input_topic, p) for p in range(job.partitions)]
        return {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in tps}
    finally:
        consumer.close()


def committed(job: Job, attempts: int = 30, timeout_s: float = 30.0) -> dict[int, int]:
    """The group's committed input offsets (-1001 for none), retrying while a (re)started broker loads its
    group coordinator (or while an open transaction holds the group's offsets unstable)."""
    consumer = Consumer({"bootstrap.servers": job.bootstrap, "group.id": job.group})
    try:
        tps = [TopicPartition(job.input_topic, p) for p in range(job.partitions)]
        for _ in range(attempts - 1):
            try:
                return {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=timeout_s)}
            except KafkaException:
                time.sleep(1.0)
        return {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=timeout_s)}
    finally:
        consumer.close()


def golden(job: Job) -> Output:
    """The core run offline over each input partition, encoded like the worker's output."""
    decode = job.input_codec().decode
    codecs = job.output_codecs()
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for message in read_all(job.bootstrap, job.input_topic):
        by_partition[message.partition()].append(message.value())
    out: Output = defaultdict(list)
    for partition, values in sorted(by_partition.items()):
        processor = job.spec.make_processor()
        for value in values:
            record = decode(value)
            for derived in processor.process(record):
                topic, codec = codecs[type(derived)]
                stamp = job.spec.outputs[type(derived)].event_time_ms(derived)
                out[topic, partition].append((record.symbol.encode(), codec.encode(derived), stamp))
    return dict(out)


def read_output(job: Job) -> Output:
    """Every output topic as a read_committed consumer sees it."""

    def record(message: Message) -> tuple[int, Record]:
        key, value = message.key(), message.value()
        assert key is not None and value is not None
        return message.partition() or 0, (key, value, message.timestamp()[1])

    out: Output = defaultdict(list)
    for topic in job.outputs.values():
        for partition, rec in read_all(job.bootstrap, topic, "read_committed", record):
            out[topic, partition].append(rec)
    return dict(out)


class Worker:
    """One worker process of ``job`` (the ``kucoin-kafka process`` command), killable."""

    def __init__(self, job: Job, log: Path, *extra: str) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(job.command(*extra), stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no leave-group."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def dump_tasks(self, settle: float = 3.0) -> None:
        """Have a live worker write every thread's and asyncio task's stack to its log (mode's SIGUSR1 handler)."""
        if self.alive:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(settle)

    def stop(self) -> int:
        """A clean stop (SIGTERM), waiting for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        finally:
            self._log.close()
        return code

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def running(job: Job, log: Path, *extra: str) -> Iterator[Worker]:
    worker = Worker(job, log, *extra)
    try:
        yield worker
    finally:
        if worker.alive:
            worker.kill()


def wait_committed(
    job: Job, ends: dict[int, int], timeout: float, at_least: float = 1.0, attempts: int = 30
) -> dict[int, int]:
    """Wait until the group committed ``at_least`` of the input (all of it by default); the committed offsets.
    ``attempts`` bounds the retries of each offset fetch (:func:`committed`)."""
    total = sum(ends.values())
    deadline = time.monotonic() + timeout
    while True:
        offsets = committed(job, attempts, timeout_s=min(30.0, max(timeout, 1.0)))
        done = sum(max(offsets.get(p, 0), 0) for p in ends)
        if done >= total * at_least:
            return offsets
        if time.monotonic() > deadline:
            raise TimeoutError(f"{job.spec.name}: committed {offsets} of {ends} after {timeout} s")
        time.sleep(0.2)


def log_tail(path: Path, lines: int = 60, before: int | None = None) -> str:
    """The last ``lines`` lines of a log (of its first ``before`` bytes if given)."""
    if not path.exists():
        return ""
    with path.open("rb") as file:
        text = file.read(before if before is not None else -1).decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def supervise(
    job: Job,
    log: Path,
    ends: dict[int, int],
    timeout: float,
    *extra: str,
    worker: Worker | None = None,
    at_least: float = 1.0,
) -> tuple[Worker, int]:
    """Keep a worker running (from ``worker`` if given), restarting it whenever it exits, as a container's restart
    policy would, until ``at_least`` of the input is committed; the running worker and how many restarts it took."""
    restarts = 0
    worker = worker or Worker(job, log, *extra)
    deadline = time.monotonic() + timeout
    while True:
        try:  # one short fetch a round, so that the deadline below is checked (and the log shown) in time
            wait_committed(job, ends, 1.0, at_least, attempts=1)
            return worker, restarts
        except (TimeoutError, KafkaException):
            pass
        if not worker.alive:
            restarts += 1
            worker = Worker(job, log, *extra)
        if time.monotonic() > deadline:
            raise TimeoutError(f"input not committed in {timeout} s\n{stall_report(job, ends, log, worker)}")


_TASK_FRAME = re.compile(r'  File ".*?/((?:processors|faust|aiokafka|mode)/[^"]+)", line (\d+), in (\S+)')


def stall_report(job: Job, ends: dict[int, int], log: Path, worker: Worker) -> str:
    """What a stalled worker was doing, for a test's failure message: the committed offsets against the input's
    ends, the tail of its log, and (from a stack dump it writes before it is killed) the frames of each asyncio task
    running the project's code. The worker is killed."""
    before = log.stat().st_size if log.exists() else 0
    worker.dump_tasks()
    worker.kill()
    with log.open("rb") as file:
        file.seek(before)
        dump = file.read().decode(errors="replace").splitlines()
    tasks: list[list[str]] = []
    for line in dump:
        if line.startswith("Stack for <Task"):
            tasks.append([line[len("Stack for ") :].split(" coro=")[0]])
        elif tasks and (frame := _TASK_FRAME.match(line)):
            tasks[-1].append(f"    {frame[1]}:{frame[2]} {frame[3]}")
    ours = ["\n".join(task) for task in tasks if "_cry" not in task[0] and any(" processors/" in line for line in task)]
    return (
        f"committed {committed(job, attempts=3)} of ends {ends}\nlog tail (before the dump):\n"
        f"{log_tail(log, before=before)}\nthe worker's tasks in processors/:\n" + "\n".join(ours)
    )


def explain(job: Job, actual: Output, expected: Output) -> str:
    """Where two outputs first differ, per topic and partition, with counts and the decoded records there."""
    codecs = {topic: codec for topic, codec in job.output_codecs().values()}
    lines: list[str] = []
    for key in sorted(set(actual) | set(expected)):
        got, want = actual.get(key, []), expected.get(key, [])
        if got == want:
            continue
        first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        lines.append(f"{key}: {len(got)} records, golden {len(want)}; first difference at {first}")
        for name, records in (("got", got), ("golden", want)):
            for index in range(max(first - 1, 0), min(first + 2, len(records))):
                lines.append(f"  {name}[{index}] {codecs[key[0]].decode(records[index][1])}")
    return "\n".join(lines)
