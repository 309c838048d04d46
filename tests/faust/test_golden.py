"""Golden tests: a real worker's read_committed output equals the pure core run offline, record for record.

Each job runs as the ``kucoin-kafka process`` command against the real broker and registry; the comparison is of
bytes (key, Avro value, timestamp) per output topic and partition, so every value and the order are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faust.harness import Job, end_offsets, golden, log_tail, produce, read_output, running, wait_committed
from tests.processors.streams import depth_stream, kline_stream, ticker_stream

pytestmark = pytest.mark.integration

SYMBOLS = ("XBTUSDTM", "ETHUSDTM", "XBTUSDM", "SOLUSDTM", "DOGEUSDTM")
INPUTS: dict[str, Callable[[], list[Any]]] = {
    "ticker-bars": lambda: ticker_stream(11, 12_000, SYMBOLS),
    "kline-bars": lambda: kline_stream(11, 1_500, SYMBOLS),
    "imbalance": lambda: depth_stream(11, 4_000, SYMBOLS, levels=50),
}


def _run(job: Job, tmp_path: Path, *extra: str) -> None:
    ends = produce(job, INPUTS[job.spec.name]())
    log = tmp_path / f"{job.group}.log"
    with running(job, log, *extra):
        try:
            wait_committed(job, ends, timeout=120)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{log_tail(log)}") from None


@pytest.mark.parametrize("name", sorted(INPUTS))
@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_worker_output_equals_the_core_offline(
    name: str, guarantee: str, make_job: Callable[..., Job], tmp_path: Path
) -> None:
    job = make_job(name)
    _run(job, tmp_path, "--guarantee", guarantee)
    expected = golden(job)
    assert sum(map(len, expected.values())) > 100, "the input must produce bars for the test to mean anything"
    assert len({topic for topic, _ in expected}) == len(job.outputs), "every output type must occur"
    assert read_output(job) == expected


def test_a_replay_into_fresh_topics_is_byte_identical(make_job: Callable[..., Job], tmp_path: Path) -> None:
    first = make_job("imbalance")
    _run(first, tmp_path)
    second = first.fresh_outputs()
    with running(second, tmp_path / "replay.log"):
        wait_committed(second, end_offsets(first), timeout=120)

    def by_schema(job: Job) -> dict[tuple[str, int], Any]:
        topic_schema = {topic: schema for schema, topic in job.outputs.items()}
        return {(topic_schema[topic], partition): records for (topic, partition), records in read_output(job).items()}

    assert by_schema(second) == by_schema(first)
