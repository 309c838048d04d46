"""The producer benchmark (``python -m ops.bench.producer``): frames/s from WebSocket bytes to broker ack.

Per stream (tickerV2, then Depth50), one after the other in this process, each against a fake exchange in its own
process (``kucoin-kafka fake-exchange --max-rate``, so it does not share our core) and the local stack's broker:

- ``naive``: the websocket-guide pattern: a ``websockets`` client, ``json.loads`` per message, a dict built per
  record, JSON values sent with aiokafka ``send_and_wait`` one at a time (``acks=all``).
- ``ours``: the real ``produce`` job (:func:`producers.app.run_produce`: session, ``MarketData``, sequencing, Avro,
  ``KafkaPublisher``), with Depth50 resends kept so that every frame becomes a record.
- ``limit``: frames captured from the same fake, replayed with no socket: :class:`FrameParser` parse only, then
  the pre-encoded Avro value produced with confluent-kafka under the publisher's own settings.

Rates count records acknowledged by the broker over a measuring window after a warm-up (``limit``: all frames, up
to the final flush); CPU is this process's user + system time over the window, librdkafka's threads included.
Before those, ``ours`` runs at the full-market rate (the fake at real speed with every contract, both streams,
default settings): p99 from receive (the record's ``receive_ts_ns``) to the ack callback, librdkafka's message
latency (from ``produce()`` to when the delivery callback runs: it includes the wait for the process to serve the
report), and this process's peak RSS during that run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets
from aiokafka import AIOKafkaProducer
from confluent_kafka import Message, Producer

from ops import config
from ops.admin import Admin
from ops.arguments import non_negative_number, positive_number
from ops.bench.fake_exchange import cpu_seconds, fake_exchange_process
from ops.bench.report import Figure
from ops.stack.local import Endpoints, LocalStack
from ops.topics import default_specs, ensure_topics
from producers.app import ProduceOptions, run_produce
from producers.kucoin.frames import Book, Event, FrameParser
from producers.kucoin.topics import Stream
from producers.metrics import ProducerMetrics
from producers.publisher.kafka import PublisherConfig
from producers.sink import Topics
from producers.websocket import StreamsConfig
from schemas.catalog import by_name
from schemas.records import Depth50, TickerV2
from schemas.registry import codec_for, registry_client

__all__ = ["Measurement", "main"]

FULL_MARKET_SYMBOLS = 680
"""The whole KuCoin futures market: ~680 contracts, each a Depth50 frame every 100 ms (~6,800 frames/s)."""
_SCHEMAS = {Stream.TICKER_V2: "ticker_v2", Stream.DEPTH50: "depth50"}


@dataclass(frozen=True, slots=True)
class Measurement:
    """Records acknowledged in a window, and the CPU this process spent meanwhile."""

    name: str
    stream: Stream
    records: int
    seconds: float
    cpu_s: float | None

    @property
    def rate(self) -> float:
        """Frames (= records) per second."""
        return self.records / self.seconds

    def __str__(self) -> str:
        text = f"{self.stream.value:<14} {self.name:<7} {self.rate:>9,.0f} frames/s"
        if self.cpu_s:
            text += f"  ({self.cpu_s / self.seconds:>4.0%} CPU, {self.records / self.cpu_s:>9,.0f} per CPU-second)"
        return text


@dataclass
class Bench:
    """Where the benchmark runs and what it created (removed at the end)."""

    endpoints: Endpoints
    symbols: int
    seconds: float
    warmup_s: float
    topics: list[str] = field(default_factory=list)

    def new_topics(self) -> Topics:
        """Fresh raw topics for one run, created as the pipeline's plan says (6 partitions), except that they take
        record timestamps any distance ahead of the wall clock: at max rate the fake's clock runs ahead of it (a
        record's timestamp is its exchange time), and Kafka 4 refuses by default one over an hour ahead."""
        base = f"bench-{uuid.uuid4().hex[:10]}"
        topics = Topics(f"{base}.tickerv2", f"{base}.depth50", f"{base}.kline", f"{base}.deadletter")
        names = {"ticker_v2": topics.ticker_v2, "depth50": topics.depth50, "dead_letter": topics.dead_letter}
        specs = [
            dataclasses.replace(spec, config={**spec.config, "message.timestamp.after.max.ms": str(2**63 - 1)})
            for spec in default_specs(topics=names)
            if spec.name in names.values()
        ]
        ensure_topics(Admin(self.endpoints.bootstrap_servers), specs)
        self.topics += names.values()
        return topics

    def cleanup(self) -> None:
        """Delete the benchmark's topics and their registry subjects."""
        if not self.topics:
            return
        admin = Admin(self.endpoints.bootstrap_servers).client
        for future in admin.delete_topics(self.topics).values():
            future.result(timeout=30)
        registry = registry_client(self.endpoints.schema_registry_url)
        for subject in registry.get_subjects():
            if subject.removesuffix("-value") in self.topics:
                registry.delete_subject(subject, permanent=False)


def _process_cpu() -> float:
    return cpu_seconds(os.getpid()) or 0.0


async def _bullet_url(rest_url: str) -> str:
    async with httpx.AsyncClient(base_url=rest_url) as http:
        data = (await http.post("/api/v1/bullet-public")).json()["data"]
    return f"{data['instanceServers'][0]['endpoint']}?token={data['token']}&connectId={uuid.uuid4()}"


async def _symbols(rest_url: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=rest_url) as http:
        contracts = (await http.get("/api/v1/contracts/active")).json()["data"]
    return [contract["symbol"] for contract in contracts][:count]


def _stopwatch() -> Callable[[], tuple[float, float]]:
    """A function giving the seconds and this process's CPU seconds since the stopwatch started."""
    started, cpu = time.perf_counter(), _process_cpu()
    return lambda: (time.perf_counter() - started, _process_cpu() - cpu)


# -- naive


async def naive(bench: Bench, rest_url: str, stream: Stream) -> Measurement:
    """The websocket-guide consumer with an aiokafka ``send_and_wait`` per record."""
    topic = bench.new_topics().ticker_v2 if stream is Stream.TICKER_V2 else bench.new_topics().depth50
    symbols = await _symbols(rest_url, bench.symbols)
    producer = AIOKafkaProducer(bootstrap_servers=bench.endpoints.bootstrap_servers, acks="all")
    await producer.start()
    try:
        async with websockets.connect(await _bullet_url(rest_url)) as ws:
            json.loads(await ws.recv())  # welcome
            topic_name = f"/contractMarket/{stream.value}:{','.join(symbols)}"
            subscribe = {"id": str(uuid.uuid4()), "type": "subscribe", "topic": topic_name, "response": True}
            await ws.send(json.dumps({**subscribe, "privateChannel": False}))
            count, phase_end, elapsed = 0, time.monotonic() + bench.warmup_s, None
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") != "message":
                    continue
                symbol = msg["topic"].split(":")[1]
                record = {"symbol": symbol, **msg["data"], "receive_ts_ns": time.time_ns()}
                await producer.send_and_wait(topic, json.dumps(record).encode(), key=symbol.encode())
                count += 1
                if time.monotonic() < phase_end:
                    continue
                if elapsed is None:  # warm-up over: start measuring
                    count, phase_end, elapsed = 0, time.monotonic() + bench.seconds, _stopwatch()
                    continue
                seconds, cpu = elapsed()
                return Measurement("naive", stream, count, seconds, cpu)
    finally:
        await producer.stop()
    raise RuntimeError("the fake exchange closed the connection")


# -- ours


def _options(bench: Bench, rest_url: str, spill: Path, streams: StreamsConfig) -> ProduceOptions:
    return ProduceOptions(
        rest_url=rest_url,
        bootstrap_servers=bench.endpoints.bootstrap_servers,
        registry_url=bench.endpoints.schema_registry_url,
        topics=bench.new_topics(),
        spill_dir=spill,
        streams=streams,
        flush_timeout_s=60.0,
        seed=1,
    )


async def ours(bench: Bench, rest_url: str, stream: Stream) -> Measurement:
    """The ``produce`` job on one stream of ``bench.symbols`` contracts, every frame a record."""
    metrics = ProducerMetrics()
    acked = metrics.registry.get_sample_value
    streams = StreamsConfig(symbols=("all",), streams=(stream,), keep_repeats=True)
    stop = asyncio.Event()
    with tempfile.TemporaryDirectory() as spill:
        job = asyncio.create_task(run_produce(_options(bench, rest_url, Path(spill), streams), stop, metrics))
        while not acked("kucoin_records_acked_total"):
            await asyncio.sleep(0.05)
            if job.done():
                job.result()
        await asyncio.sleep(bench.warmup_s)
        before = acked("kucoin_records_acked_total") or 0.0
        elapsed = _stopwatch()
        await asyncio.sleep(bench.seconds)
        records = (acked("kucoin_records_acked_total") or 0.0) - before
        seconds, cpu = elapsed()
        stop.set()
        await job
    return Measurement("ours", stream, int(records), seconds, cpu)


# -- limit


async def capture(rest_url: str, stream: Stream, symbols: int, frames: int) -> list[bytes]:
    """``frames`` raw frames of one stream from the fake, as the producer receives them (UTF-8 bytes)."""
    async with websockets.connect(await _bullet_url(rest_url), compression=None, max_size=None) as ws:
        await ws.recv()
        topic = f"/contractMarket/{stream.value}:{','.join(await _symbols(rest_url, symbols))}"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "topic": topic, "response": True}))
        await ws.recv()
        return [await ws.recv(decode=False) for _ in range(frames)]


def limit(bench: Bench, stream: Stream, frames: list[bytes]) -> tuple[Measurement, float, float]:
    """Parse every frame and produce its pre-encoded value, then flush; also the two halves' rates alone."""
    topics = bench.new_topics()
    topic = topics.ticker_v2 if stream is Stream.TICKER_V2 else topics.depth50
    codec = codec_for(registry_client(bench.endpoints.schema_registry_url), by_name(_SCHEMAS[stream]), topic)
    parser = FrameParser()
    events = [parser.parse(frame, time.time_ns()) for frame in frames]
    records = [_record(event) for event in events]
    values = [codec.encode(record) for record in records]
    keys = [record.symbol.encode() for record in records]
    settings = PublisherConfig(bench.endpoints.bootstrap_servers).librdkafka()
    producer = Producer(settings)
    producer.produce(topic, values[0], keys[0])  # connect and learn the partitions outside the window
    producer.flush(30)

    def produce_all(parse: bool) -> None:
        for frame, key, value in zip(frames, keys, values, strict=True):
            if parse:
                parser.parse(frame, 0)
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(120)

    elapsed = _stopwatch()
    for frame in frames:
        parser.parse(frame, 0)
    parse_s, _ = elapsed()
    elapsed = _stopwatch()
    produce_all(parse=False)
    produce_s, _ = elapsed()
    elapsed = _stopwatch()
    produce_all(parse=True)
    seconds, cpu = elapsed()
    return Measurement("limit", stream, len(frames), seconds, cpu), len(frames) / parse_s, len(frames) / produce_s


def _record(event: Event) -> TickerV2 | Depth50:
    if isinstance(event, TickerV2):
        return event
    if isinstance(event, Book):
        return event.record
    raise ValueError(f"captured a frame that is not market data: {event!r}")


# -- full market latency


@dataclass
class Latencies:
    """Per-record latencies gathered by the ack callback, in seconds."""

    receive_to_ack: list[float] = field(default_factory=list)
    produce_to_ack: list[float] = field(default_factory=list)
    recording: bool = False

    def observe(self, msg: Message) -> None:
        """Record one ack: now minus the record's receive time, and librdkafka's ``produce()``-to-callback latency."""
        if not self.recording:
            return
        value = msg.value()
        if value is not None:
            self.receive_to_ack.append((time.time_ns() - _trailing_long(value)) / 1e9)
        latency = msg.latency()
        if latency is not None:
            self.produce_to_ack.append(latency)


def _trailing_long(value: bytes) -> int:
    """The Avro ``long`` that ends a record (``receive_ts_ns`` is the last field of tickerV2 and Depth50).

    Each byte of a varint but its last has the high bit set, so the last varint of the payload starts right after
    the previous byte whose high bit is clear.
    """
    start = len(value) - 1
    while value[start - 1] & 0x80:
        start -= 1
    raw = 0
    for shift, byte in enumerate(value[start:]):
        raw |= (byte & 0x7F) << (7 * shift)
    return (raw >> 1) ^ -(raw & 1)


def _p(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=1000)[int(q * 1000) - 1] if len(samples) > 1 else float("nan")


def _reset_peak_rss() -> None:
    """Start a new RSS high-water mark (Linux >= 4.0; elsewhere the process-wide peak stays)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def full_market(bench: Bench, rest_url: str) -> tuple[Latencies, float, float, float]:
    """``ours`` with default settings on every contract at real speed; returns latencies, Depth50 frames/s,
    records/s and the peak RSS in MB."""
    metrics = ProducerMetrics()
    sample = metrics.registry.get_sample_value
    latencies = Latencies()
    stop = asyncio.Event()
    _reset_peak_rss()
    with tempfile.TemporaryDirectory() as spill:
        options = _options(bench, rest_url, Path(spill), StreamsConfig())
        job = asyncio.create_task(run_produce(options, stop, metrics, on_ack=latencies.observe))
        await asyncio.sleep(bench.warmup_s + 5.0)  # 7 connections to open and subscribe
        if job.done():
            job.result()
        depth_before = sample("kucoin_frames_in_total", {"stream": Stream.DEPTH50.value}) or 0.0
        acked_before = sample("kucoin_records_acked_total") or 0.0
        latencies.recording = True
        started = time.perf_counter()
        await asyncio.sleep(bench.seconds * 2)
        seconds = time.perf_counter() - started
        latencies.recording = False
        depth = (sample("kucoin_frames_in_total", {"stream": Stream.DEPTH50.value}) or 0.0) - depth_before
        acked = (sample("kucoin_records_acked_total") or 0.0) - acked_before
        stop.set()
        await job
    return latencies, depth / seconds, acked / seconds, _peak_rss_mb()


# -- the run


async def _throughput(bench: Bench, stream: Stream) -> list[Measurement]:
    results = []
    for contender in (naive, ours):
        with fake_exchange_process(bench.symbols) as (rest_url, _):
            results.append(await contender(bench, rest_url, stream))
            print(f"  {results[-1]}", flush=True)
    with fake_exchange_process(bench.symbols) as (rest_url, _):
        frames = await capture(rest_url, stream, bench.symbols, max(20_000, int(results[-1].rate * bench.seconds)))
    measured, parse_rate, produce_rate = await asyncio.to_thread(limit, bench, stream, frames)
    results.append(measured)
    print(f"  {measured}   [parse only {parse_rate:,.0f}/s, produce pre-encoded only {produce_rate:,.0f}/s]")
    return results


async def _run(bench: Bench) -> list[Figure]:
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"broker {bench.endpoints.bootstrap_servers}; {bench.symbols} symbols per stream; window {bench.seconds} s")
    # The full market first: the throughput runs leave this process' heap grown by their captured frames.
    with fake_exchange_process(FULL_MARKET_SYMBOLS, max_rate=False) as (rest_url, _):
        latencies, depth_rate, record_rate, rss = await full_market(bench, rest_url)
    table = []
    for stream in (Stream.TICKER_V2, Stream.DEPTH50):
        table += await _throughput(bench, stream)
    print("\nratios (frames/s):")
    for stream in (Stream.TICKER_V2, Stream.DEPTH50):
        rates = {m.name: m.rate for m in table if m.stream is stream}
        print(
            f"  {stream.value:<14} ours/naive {rates['ours'] / rates['naive']:>6.1f}x   "
            f"ours/limit {rates['ours'] / rates['limit']:>5.0%}"
        )
    print(f"\nfull market ({FULL_MARKET_SYMBOLS} contracts at real speed, tickerV2 + Depth50, default settings):")
    print(f"  Depth50 frames in {depth_rate:,.0f}/s, records acknowledged {record_rate:,.0f}/s")
    print(
        f"  receive -> ack callback: p50 {_p(latencies.receive_to_ack, 0.5) * 1e3:.1f} ms, "
        f"p99 {_p(latencies.receive_to_ack, 0.99) * 1e3:.1f} ms, max {max(latencies.receive_to_ack) * 1e3:.1f} ms "
        f"({len(latencies.receive_to_ack):,} records)"
    )
    print(
        f"  produce() -> ack callback (librdkafka): p50 {_p(latencies.produce_to_ack, 0.5) * 1e3:.1f} ms, "
        f"p99 {_p(latencies.produce_to_ack, 0.99) * 1e3:.1f} ms"
    )
    print(f"  peak RSS {rss:.0f} MB")
    figures = [
        Figure("producer", f"{m.stream.value} frames to broker ack", {"naive": "baseline"}.get(m.name, m.name), m.rate,
               "frames/s", f"{bench.symbols} symbols")
        for m in table
    ]  # fmt: skip
    note = f"{FULL_MARKET_SYMBOLS} contracts at real speed, tickerV2 + Depth50"
    figures += [
        Figure(
            "producer", "full market: receive to ack p99", "ours", _p(latencies.receive_to_ack, 0.99) * 1e3, "ms", note
        ),
        Figure("producer", "full market: peak RSS", "ours", rss, "MB", note),
        Figure("producer", "full market: Depth50 frames in", "ours", depth_rate, "frames/s", note),
    ]
    return figures


async def _scaling(bench: Bench) -> list[Figure]:
    """Our producer on Depth50 at 10, 100 and ~700 symbols: how the cost grows with the market."""
    out = []
    for symbols in (10, 100, FULL_MARKET_SYMBOLS):
        sized = Bench(bench.endpoints, symbols, bench.seconds, bench.warmup_s)
        try:
            with fake_exchange_process(symbols) as (rest_url, _):
                measured = await ours(sized, rest_url, Stream.DEPTH50)
        finally:
            sized.cleanup()
        cpu = f", {measured.records / measured.cpu_s:,.0f} per CPU-second" if measured.cpu_s else ""
        out.append(
            Figure("scaling", f"producer Depth50, {symbols} symbols", "ours", measured.rate, "frames/s", cpu[2:])
        )
    return out


def figures(scale: float = 1.0) -> list[Figure]:
    """The producer part of the benchmark suite: naive, ours and limit per stream, full market, scaling."""
    seconds = max(2.0, 6.0 * scale)
    bench = Bench(LocalStack(config.load()).endpoints, 100, seconds, min(2.0, seconds / 2))
    try:
        return asyncio.run(_run(bench)) + asyncio.run(_scaling(bench))
    finally:
        bench.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Run every contender and print the table."""
    parser = argparse.ArgumentParser(prog="python -m ops.bench.producer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=100, help="contracts per stream (default %(default)s)")
    parser.add_argument("--seconds", type=positive_number, default=6.0, help="measuring window (default %(default)s)")
    parser.add_argument(
        "--warmup", type=non_negative_number, default=2.0, help="warm-up before each window (default %(default)s)"
    )
    args = parser.parse_args(argv)
    bench = Bench(LocalStack(config.load()).endpoints, args.symbols, args.seconds, args.warmup)
    try:
        asyncio.run(_run(bench))
    finally:
        bench.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
