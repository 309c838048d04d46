"""A worker's Prometheus endpoint: the lag of every input partition it owns, one nothing was read from included
(the stall alert reads it; a partition left unread after a rebalance once showed no lag at all)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.faust.harness import Job, produce, running, wait_committed
from tests.processors.streams import ticker_stream
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def _lag(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        sample.labels["partition"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "kucoin_processor_lag"
        for sample in family.samples
    }


def test_every_owned_partition_reports_its_lag(make_job: Callable[..., Job], tmp_path: Path) -> None:
    job = make_job("ticker-bars", partitions=3)
    ends = produce(job, ticker_stream(5, 2_000, ("XBTUSDTM", "ETHUSDTM")))  # partition 2 gets no input
    assert ends[2] == 0 and ends[0] > 0 and ends[1] > 0
    port = free_port()
    lag: dict[str, float] = {}
    with running(job, tmp_path / "worker.log", "--metrics-port", str(port)):
        wait_committed(job, ends, timeout=120)
        deadline = time.monotonic() + 15  # the worker measures once a second
        while time.monotonic() < deadline and lag != {"0": 0, "1": 0, "2": 0}:
            time.sleep(0.5)
            lag = _lag(port)
    assert lag == {"0": 0, "1": 0, "2": 0}
