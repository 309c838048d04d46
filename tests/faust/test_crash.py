"""Crash tests: SIGKILLed workers, a rebalance after a member dies, a broker restart; the read_committed output
must still equal the golden output exactly (no duplicate, no gap, identical bytes)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.stack.local import Endpoints
from processors.eos import EXIT_CRASHED
from processors.jobs import job as job_spec
from tests.faust.harness import (
    Job,
    Worker,
    explain,
    golden,
    log_tail,
    produce,
    read_output,
    supervise,
    wait_committed,
)
from tests.processors.streams import depth_stream, ticker_stream
from tests.support.private_kafka import private_kafka

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYMBOLS = tuple(f"S{i:02d}USDTM" for i in range(6))
KILLS = 10
EVENTS = 100_000


def test_ten_sigkills_during_100k_events_change_nothing(make_job: Callable[..., Job], tmp_path: Path) -> None:
    """Static membership (``--instance-id``) lets each restart take its partitions back without waiting for the
    dead member's session to expire, so the test spends its time on recoveries, not on timeouts. A worker that
    exits by itself (code 70, a refused gap) is restarted like a killed one."""
    job = make_job("ticker-bars")
    ends = produce(job, ticker_stream(21, EVENTS, SYMBOLS))
    rng = random.Random(21)
    log = tmp_path / "worker.log"
    extra = ("--instance-id", "w1")
    kills = 0
    for target in sorted(rng.uniform(0.03, 0.9) for _ in range(KILLS)):
        worker, _ = supervise(job, log, ends, 120, *extra, at_least=target)
        time.sleep(rng.uniform(0.0, 0.4))
        worker.kill()
        kills += 1
    worker, _ = supervise(job, log, ends, 180, *extra)
    worker.kill()
    assert kills == KILLS
    _assert_golden(job)


def test_killing_one_of_two_workers_hands_its_partitions_over(make_job: Callable[..., Job], tmp_path: Path) -> None:
    """Dynamic membership: the survivor takes the dead member's partitions when its session expires. A worker that
    exits by itself (code 70: Faust passed over an event during a rebalance, see processors.eos) is restarted."""
    job = make_job("imbalance", partitions=4)
    ends = produce(job, depth_stream(22, 20_000, SYMBOLS, levels=20))
    extra = ("--session-timeout", "6")
    survivor = Worker(job, tmp_path / "survivor.log", *extra)
    victim = Worker(job, tmp_path / "victim.log", *extra)
    try:
        survivor, _ = supervise(job, tmp_path / "survivor.log", ends, 120, *extra, worker=survivor, at_least=0.3)
    finally:
        if victim.alive:
            victim.kill()
    survivor, _ = supervise(job, tmp_path / "survivor.log", ends, 120, *extra, worker=survivor)
    survivor.kill()
    _assert_golden(job)


def test_a_broker_restart_mid_stream_changes_nothing(services: Endpoints, tmp_path: Path) -> None:
    """The worker either rides the outage out or exits (code 70) and is restarted; either way nothing changes."""
    with private_kafka(tmp_path) as kafka:
        job = Job(job_spec("ticker-bars"), kafka.bootstrap_servers, services.schema_registry_url, 3)
        ends = produce(job, ticker_stream(23, 30_000, SYMBOLS))
        log = tmp_path / "worker.log"
        extra = ("--instance-id", "w1")
        worker = Worker(job, log, *extra)
        wait_committed(job, ends, timeout=120, at_least=0.3)
        kafka.stop()
        time.sleep(2)
        kafka.start()
        worker, _ = supervise(job, log, ends, 180, *extra, worker=worker)
        worker.kill()
        _assert_golden(job)


def test_a_checkpoint_the_broker_never_answers_stops_the_worker(services: Endpoints, tmp_path: Path) -> None:
    """The broker freezes (SIGSTOP) mid-stream: the checkpoint in flight cannot end, and past
    ``--checkpoint-timeout`` the worker exits (code 70) instead of hanging silently; once the broker answers again,
    its restart resumes from the last commit and the output is exactly the golden one."""
    with private_kafka(tmp_path) as kafka:
        job = Job(job_spec("imbalance"), kafka.bootstrap_servers, services.schema_registry_url, 3)
        ends = produce(job, depth_stream(29, 30_000, SYMBOLS, levels=20))
        log = tmp_path / "worker.log"
        extra = ("--instance-id", "w1", "--checkpoint-timeout", "3")
        worker = Worker(job, log, *extra)
        try:
            wait_committed(job, ends, timeout=120, at_least=0.2)
            kafka.freeze()
            try:
                code = worker.process.wait(timeout=60)
            finally:
                kafka.thaw()
            assert code == EXIT_CRASHED, log_tail(log)
            assert "a checkpoint did not end in 3 s" in log.read_text(errors="replace")
            worker, _ = supervise(job, log, ends, 180, *extra, worker=worker)
        finally:
            worker.kill()
        _assert_golden(job)


def _assert_golden(job: Job) -> None:
    actual, expected = read_output(job), golden(job)
    assert actual == expected, explain(job, actual, expected)
