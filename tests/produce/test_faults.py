"""The fault matrix of issue 4: fake exchange with injected faults -> real producer -> real Kafka.

Every test streams a few symbols through faults, stops the producer cleanly (which proves it was still running),
then compares Kafka with ground truth: every distinct event the fake delivered exactly once, in order per symbol,
malformed frames in the dead-letter topic and nothing else (see ``tests.support.ground_truth``). The fake runs at
5x real time with fast keepalive settings, so each fault and its recovery take seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from ops.fake_exchange import FakeExchange, FakeExchangeConfig, SessionLimits
from ops.stack.local import Endpoints
from producers.kucoin.session import SessionConfig
from producers.kucoin.topics import Stream
from producers.sink import Topics
from producers.websocket import StreamsConfig
from tests.support.ground_truth import assert_exactly_once, sent_frames
from tests.support.ports import free_port
from tests.support.private_kafka import private_kafka
from tests.support.producer import RunningProducer, fresh_topics, running_producer

pytestmark = pytest.mark.integration

FAKE = FakeExchangeConfig(seed=23, symbols=4, speed=5.0, ping_interval_ms=400, ping_timeout_ms=600)
"""Four contracts at 5x real time; pings every 0.4 s, so a stalled pong is noticed within a second."""
FAKE_TIME_PER_S = 5_000  # fake ms per real second at FAKE's speed


@dataclass
class Run:
    """One producer run against one fake exchange."""

    fx: FakeExchange
    producer: RunningProducer
    topics: Topics

    def reconnects(self, kind: str) -> float:
        """How many reconnects of one kind the producer counted."""
        return self.producer.sample("kucoin_reconnects_total", kind=kind)

    def outcomes(self, outcome: str) -> float:
        """Sequence-rule outcomes summed over the streams."""
        return sum(
            self.producer.sample("kucoin_sequence_outcomes_total", stream=s.value, outcome=outcome) for s in Stream
        )

    def control_frames(self, containing: str) -> list[str]:
        """Control frames (welcome, ack, pong, error) the fake sent that contain a text."""
        return [f.text for f in sent_frames(self.fx) if f.kind == "control" and containing in f.text]


async def eventually(condition: Callable[[], bool], timeout_s: float) -> None:
    """Wait until ``condition`` holds, checking every 0.1 s; fail after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - metrics and recorder have no event to await
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def faulty_run(
    services: Endpoints,
    tmp_path: Path,
    config: FakeExchangeConfig = FAKE,
    streams: StreamsConfig | None = None,
    *,
    bootstrap: str | None = None,
    memory_budget_kb: int = 64 * 1024,
    as_received: bool = False,
) -> AsyncIterator[Run]:
    """Stream through the faults the body injects; then the producer must still run, stop cleanly with nothing
    left in its spill, and Kafka must match ground truth (see :func:`assert_exactly_once`)."""
    bootstrap = bootstrap or services.bootstrap_servers
    topics = fresh_topics("faults", bootstrap)
    async with FakeExchange(config) as fx:
        async with running_producer(
            services, fx.rest_url, topics, tmp_path / "spill", streams or StreamsConfig(), bootstrap, memory_budget_kb
        ) as producer:
            async with asyncio.timeout(10):
                await fx.wait_for_connections(1)
            await asyncio.sleep(1.0)
            yield Run(fx, producer, topics)
            producer.assert_running()
            assert await producer.finish() == 0
        checked = assert_exactly_once(fx, bootstrap, services.schema_registry_url, topics, as_received=as_received)
        assert checked > 50


async def test_connection_drops_every_few_seconds(services: Endpoints, tmp_path: Path) -> None:
    async with faulty_run(services, tmp_path) as run:
        for _ in range(4):
            run.fx.faults.drop_connection()
            await asyncio.sleep(1.2)
        assert run.reconnects("closed-by-server") >= 4
        assert len(run.fx.recorder.connections()) >= 5


async def test_token_expiry_reconnects_with_a_new_token(services: Endpoints, tmp_path: Path) -> None:
    """Tokens live 1.6 s here: each connection gets ``401 token is expired`` and a close; then all at once."""
    config = replace(FAKE, token_lifetime_ms=8 * FAKE_TIME_PER_S // 5)
    async with faulty_run(services, tmp_path, config) as run:
        await asyncio.sleep(3.0)
        run.fx.faults.expire_tokens()

        def expired_closes() -> int:
            return [run.fx.close_reason(c) for c in run.fx.recorder.connections()].count("token expired")

        # Reconnects wait a jittered backoff, so a loaded machine needs longer: wait for the counts, bounded.
        await eventually(lambda: run.reconnects("code-401") >= 3 and expired_closes() >= 3, timeout_s=20)


async def test_pong_stall_is_a_dead_connection(services: Endpoints, tmp_path: Path) -> None:
    async with faulty_run(services, tmp_path) as run:
        (first,) = run.fx.connections()
        run.fx.faults.stall_pongs(first)
        async with asyncio.timeout(5):
            assert await run.fx.wait_closed(first) == "client closed"
        await asyncio.sleep(1.5)
        assert run.reconnects("timeout") == 1


@pytest.mark.parametrize(
    ("code", "data", "reconnect"),
    [
        (401, "token is invalid", "code-401"),
        (400, "ping timeout", "code-400"),
        (509, "exceed max permits per second", None),
        (509, "exceed max subscription count limitation of 100 per time", None),
        (400, "Unrecognized token 'x': was expecting (JSON String, Number, Array, Object or token 'null')", None),
        (404, "topic does not exist", None),
    ],
)
async def test_error_frames(services: Endpoints, tmp_path: Path, code: int, data: str, reconnect: str | None) -> None:
    """401 and ``400 ping timeout`` end the connection (reconnect with a new token); the others, sent with the
    connectId and no pending request, are logged and the connection keeps streaming."""
    async with faulty_run(services, tmp_path) as run:
        (first,) = run.fx.connections()
        run.fx.faults.send_error(code, data, first)
        await asyncio.sleep(1.5)
        if reconnect is None:
            assert run.fx.connections() == [first]
            assert run.fx.close_reason(first) is None
        else:
            assert run.fx.close_reason(first) == "client closed"
            assert run.reconnects(reconnect) == 1
            assert len(run.fx.connections()) == 1


async def test_subscribe_509_is_retried_in_smaller_messages(services: Endpoints, tmp_path: Path) -> None:
    """A server allowing 3 topics per message refuses the 8-symbol subscribes with 509; halves get through."""
    config = replace(FAKE, symbols=8, session_limits=SessionLimits(max_topics_per_message=3))
    async with faulty_run(services, tmp_path, config) as run:
        await asyncio.sleep(2.5)
        assert len(run.control_frames('"code":509')) >= 4
        assert run.fx.connections() == run.fx.recorder.connections()[:1]
    streamed = {(channel, symbol) for channel, symbol in run.fx.recorder.streams()}
    assert streamed == {(ch, c.symbol) for ch in ("tickerV2", "level2Depth50") for c in run.fx.contracts}


async def test_sharding_keeps_at_most_100_topics_per_message(services: Endpoints, tmp_path: Path) -> None:
    """130 Depth50 topics at real speed: two connections (100 + 30), every subscribe accepted, no 509."""
    config = replace(FAKE, symbols=130, speed=1.0)
    async with faulty_run(services, tmp_path, config, StreamsConfig(streams=(Stream.DEPTH50,))) as run:
        async with asyncio.timeout(10):
            await run.fx.wait_for_connections(2)
        await asyncio.sleep(1.0)
        assert run.control_frames('"type":"error"') == []
        assert len(run.control_frames('"type":"ack"')) == 2
    assert {symbol for _, symbol in run.fx.recorder.streams()} == {c.symbol for c in run.fx.contracts}


async def test_duplicated_frames_are_published_once(services: Endpoints, tmp_path: Path) -> None:
    async with faulty_run(services, tmp_path) as run:
        run.fx.faults.duplicate_frames(60)
        await asyncio.sleep(1.5)
        assert sum(f.kind == "duplicate" for f in sent_frames(run.fx)) == 60
        assert run.outcomes("duplicate") >= 60


@pytest.mark.parametrize("stream", [Stream.TICKER_V2, Stream.DEPTH50])
async def test_reordered_frames_drop_the_regressions(services: Endpoints, tmp_path: Path, stream: Stream) -> None:
    """One symbol and one stream (so swapped neighbours are of the same stream), 40 swapped pairs, at 60x so
    that each send batch holds frames to swap.

    Expected: the frames in the order the producer received them, each kept only if its sequence is above every
    one kept before (``as_received``): the later-sent lower frame of a swapped pair is dropped as a regression, and
    of a swapped pair of Depth50 resends (equal sequence) the first received is published.
    """
    config = replace(FAKE, symbols=1, speed=60.0)
    streams = StreamsConfig(streams=(stream,))
    async with faulty_run(services, tmp_path, config, streams, as_received=True) as run:
        run.fx.faults.reorder_frames(40)
        await asyncio.sleep(1.5)
        assert run.outcomes("regression") >= 10


async def test_malformed_json_goes_to_the_dead_letter_topic(services: Endpoints, tmp_path: Path) -> None:
    async with faulty_run(services, tmp_path) as run:
        run.fx.faults.malformed_frames(25)
        await asyncio.sleep(1.5)
        assert run.producer.sample("kucoin_dead_letters_total", kind="malformed") == 25


async def test_server_disconnects_for_load_balancing(services: Endpoints, tmp_path: Path) -> None:
    async with faulty_run(services, tmp_path) as run:
        for _ in range(3):
            run.fx.faults.server_disconnect()
            await asyncio.sleep(1.2)
        assert run.reconnects("closed-by-server") >= 3
        reasons = [run.fx.close_reason(c) for c in run.fx.recorder.connections()]
        assert reasons.count("server disconnect") >= 3


async def test_silent_streams_are_reported_by_the_watchdog(services: Endpoints, tmp_path: Path) -> None:
    """The fake holds every stream back 1.5 s: acked topics silent for over 1 s are reported, nothing is lost.

    The fake's sender is held too, pongs included: a 5 s pong timeout keeps the connection.
    """
    config = replace(FAKE, ping_timeout_ms=5_000)
    session = SessionConfig(silence_timeout_s=1.0, watchdog_period_s=0.2)
    async with faulty_run(services, tmp_path, config, StreamsConfig(session=session)) as run:
        run.fx.faults.delay_frames(1, 1.5)
        await asyncio.sleep(2.5)
        assert run.producer.sample("kucoin_silent_topics_total") >= 1
        assert len(run.fx.recorder.connections()) == 1


async def test_token_rotation_before_expiry_overlaps_without_gap(services: Endpoints, tmp_path: Path) -> None:
    """Rotation every 1.5 s: each new connection opens before the old one closes (the fake sees two open at once)
    and both stream for 0.5 s, so the books pushed every 100 ms (fake time) reach the producer without a missing
    step across the handovers; the overlap is deduplicated (the Kafka check)."""
    streams = StreamsConfig(session=SessionConfig(rotate_after_s=1.5, handover_overlap_s=0.5))
    async with faulty_run(services, tmp_path, streams=streams) as run:
        async with asyncio.timeout(5):
            assert len(await run.fx.wait_for_connections(2)) == 2
        await asyncio.sleep(3.0)
        assert run.producer.sample("kucoin_token_rotations_total") >= 2
        assert run.producer.sample("kucoin_reconnects_total", kind="closed-by-server") == 0
    assert len(run.fx.recorder.connections()) >= 3
    for contract in run.fx.contracts:
        pushes = [frame.ts for frame in run.fx.recorder.delivered("level2Depth50", contract.symbol)]
        assert {b - a for a, b in itertools.pairwise(pushes)} == {100}, f"a gap in {contract.symbol}'s books"


@pytest.mark.slow
async def test_broker_stopped_for_60_s_mid_stream(services: Endpoints, tmp_path: Path) -> None:
    """A private broker stops for 60 s; records wait in memory, then on disk (small budget), and all arrive."""
    with private_kafka(tmp_path) as kafka:
        async with faulty_run(services, tmp_path, bootstrap=kafka.bootstrap_servers, memory_budget_kb=256) as run:
            await asyncio.to_thread(kafka.stop)
            await asyncio.sleep(60)
            assert run.producer.sample("kucoin_producer_spill_depth") > 0
            run.producer.assert_running()
            await asyncio.to_thread(kafka.start)
            async with asyncio.timeout(60):
                while run.producer.sample("kucoin_producer_spill_depth") > 0:  # noqa: ASYNC110 (a gauge)
                    await asyncio.sleep(0.5)


# -- the CLI process: SIGTERM and /metrics


@contextlib.asynccontextmanager
async def produce_process(
    services: Endpoints, fx: FakeExchange, topics: Topics, tmp_path: Path, metrics_port: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``kucoin-kafka produce`` as a child process against the in-test fake; killed if the test leaves it."""
    command = [
        str(Path(sys.executable).with_name("kucoin-kafka")),
        "produce",
        f"--rest-url={fx.rest_url}",
        f"--brokers={services.bootstrap_servers}",
        f"--registry={services.schema_registry_url}",
        f"--ticker-topic={topics.ticker_v2}",
        f"--depth-topic={topics.depth50}",
        f"--dead-letter-topic={topics.dead_letter}",
        f"--spill-dir={tmp_path / 'spill'}",
        f"--metrics-port={metrics_port}",
    ]
    process = await asyncio.create_subprocess_exec(*command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _scrape_once_acked(port: int) -> str:
    """The /metrics page once Kafka has acknowledged records."""
    async with httpx.AsyncClient() as http, asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                acked = [line for line in page.splitlines() if line.startswith("kucoin_records_acked_total ")]
                if acked and float(acked[0].split()[1]) > 0:
                    return page
            await asyncio.sleep(0.2)


async def test_sigterm_flushes_everything_and_exits_zero(services: Endpoints, tmp_path: Path) -> None:
    topics = fresh_topics("sigterm", services.bootstrap_servers)
    port = free_port()
    async with FakeExchange(FAKE) as fx, produce_process(services, fx, topics, tmp_path, port) as process:
        await _scrape_once_acked(port)
        await asyncio.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    assert assert_exactly_once(fx, services.bootstrap_servers, services.schema_registry_url, topics) > 50


async def test_metrics_endpoint_exports_the_documented_metrics(services: Endpoints, tmp_path: Path) -> None:
    topics = fresh_topics("metrics", services.bootstrap_servers)
    port = free_port()
    async with FakeExchange(FAKE) as fx, produce_process(services, fx, topics, tmp_path, port) as process:
        page = await _scrape_once_acked(port)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    for name in (
        "kucoin_frames_in_total",
        "kucoin_sequence_outcomes_total",
        "kucoin_records_produced_total",
        "kucoin_records_acked_total",
        "kucoin_delivery_errors_total",
        "kucoin_dead_letters_total",
        "kucoin_reconnects_total",
        "kucoin_token_rotations_total",
        "kucoin_silent_topics_total",
        "kucoin_rest_calls_total",
        "kucoin_exchange_to_receive_seconds_bucket",
        "kucoin_receive_to_ack_seconds_bucket",
        "kucoin_producer_queue_depth",
        "kucoin_producer_spill_depth",
        "kucoin_ws_connections 1.0",
        "kucoin_symbols 4.0",
    ):
        assert name in page, name
