"""Where the time goes: pyinstrument profiles of the producer's and the imbalance processor's hot paths at full
rate, with the top functions by self time for the benchmark report.

The producer profile feeds real frames (the fake exchange's model, offline) through the produce job's own path
(parse, sequence rules, Avro, the Kafka publisher to the local broker) as fast as it goes; the processor profile
runs the imbalance core over the same books with Avro decoding in front (a fetched batch at a time) and encoding
behind, as a worker does.
The WebSocket and Faust layers are left out on purpose: they are measured by the end-to-end benchmarks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from ops import config
from ops.admin import Admin
from ops.fake_exchange import Market, MarketModel, Subscription, make_contracts
from ops.stack.local import LocalStack
from ops.topics import default_specs, ensure_topics

__all__ = ["book_frames", "hot_spots"]

TOP = 8
GENESIS_MS = 1_731_665_520_000
FETCH_BATCH = 500
"""Payloads the processor profile decodes at once, as a worker decodes a fetched batch (and ``core_rate`` does)."""


def book_frames(symbols: int, seconds: float) -> list[str]:
    """Depth50 frames of ``symbols`` contracts over ``seconds`` of fake time (10 per contract per second)."""
    market = Market(MarketModel(make_contracts(symbols), seed=3, genesis_ms=GENESIS_MS))
    start_ns = GENESIS_MS * 1_000_000
    frames = [
        frame
        for contract in market.model.contracts
        for frame in market.frames(
            Subscription("level2Depth50", contract.symbol), start_ns, start_ns + int(seconds * 1e9)
        )
    ]
    frames.sort(key=lambda frame: frame.t_ns)
    return [frame.text for frame in frames]


def _top_self_time(profiler: Profiler) -> list[str]:
    session = profiler.last_session
    assert session is not None
    totals: dict[str, float] = {}

    def walk(frame: Any) -> None:
        if not frame.function.startswith("["):  # pyinstrument's synthetic [self]/[await] frames double count
            key = f"{frame.function} ({Path(frame.file_path or '?').name}:{frame.line_no})"
            totals[key] = totals.get(key, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    root = session.root_frame()
    if root is not None:
        walk(root)
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:TOP]
    return [f"{name}: {seconds / whole:.1%}" for name, seconds in ranked]


def _profile(run: Callable[[], None], out: Path) -> list[str]:
    profiler = Profiler(interval=0.0005)
    profiler.start()
    run()
    profiler.stop()
    out.write_text(profiler.output_text(unicode=False, color=False))
    return _top_self_time(profiler)


def _producer_path(frames: list[str]) -> Callable[[], None]:
    from producers.kucoin.frames import FrameParser
    from producers.metrics import ProducerMetrics
    from producers.publisher.kafka import KafkaPublisher, PublisherConfig
    from producers.sink import RecordSink, Topics
    from producers.websocket import MarketData
    from schemas.catalog import by_name
    from schemas.registry import codec_for, registry_client

    endpoints = LocalStack(config.load()).endpoints
    base = f"bench-profile-{uuid.uuid4().hex[:8]}"
    topics = Topics(f"{base}.tickerv2", f"{base}.depth50", f"{base}.kline", f"{base}.deadletter")
    names = {"ticker_v2": topics.ticker_v2, "depth50": topics.depth50, "dead_letter": topics.dead_letter}
    specs = [spec for spec in default_specs(topics=names) if spec.name in names.values()]
    ensure_topics(Admin(endpoints.bootstrap_servers), specs)
    registry = registry_client(endpoints.schema_registry_url)
    codecs = {name: codec_for(registry, by_name(name), topic) for name, topic in names.items()}
    codecs["kline"] = codecs["ticker_v2"]
    metrics = ProducerMetrics()
    publisher = KafkaPublisher(PublisherConfig(endpoints.bootstrap_servers), Path(f"/tmp/{base}-spill"))
    market = MarketData(RecordSink(publisher, topics, codecs, metrics), metrics, keep_repeats=True)
    parser = FrameParser()

    def run() -> None:
        for index, frame in enumerate(frames):
            market.handle(parser.parse(frame, GENESIS_MS * 1_000_000 + index), frame, GENESIS_MS * 1_000_000)
            if index % 500 == 0:
                publisher.service()
        publisher.flush(60)

    return run


def _imbalance_path(frames: list[str]) -> Callable[[], None]:
    from processors.core.imbalance import ImbalanceProcessor
    from producers.kucoin.frames import Book, FrameParser
    from schemas.catalog import by_name
    from schemas.codec import AvroCodec

    parser = FrameParser()
    books = [event.record for frame in frames if isinstance(event := parser.parse(frame, 0), Book)]
    source: AvroCodec[Any] = AvroCodec(by_name("depth50"), 1)
    payloads = [source.encode(book) for book in books]
    sinks: dict[str, AvroCodec[Any]] = {
        name: AvroCodec(by_name(name), 2) for name in ("imbalance", "imbalance_bar", "late_event")
    }
    kinds = {"Imbalance": "imbalance", "ImbalanceBar": "imbalance_bar", "LateEvent": "late_event"}

    def run() -> None:
        processor = ImbalanceProcessor()
        for start in range(0, len(payloads), FETCH_BATCH):
            for record in source.decode_many(payloads[start : start + FETCH_BATCH]):
                for output in processor.process(record):
                    sinks[kinds[type(output).__name__]].encode(output)

    return run


def hot_spots(out_dir: Path, scale: float = 1.0) -> dict[str, list[str]]:
    """Profile both hot paths; writes the full text profiles into ``out_dir``; returns the top self times."""
    frames = book_frames(symbols=100, seconds=max(2.0, 30 * scale))
    return {
        "producer (Depth50: parse, sequence, Avro, publish to ack)": _profile(
            _producer_path(frames), out_dir / "profile-producer.txt"
        ),
        "imbalance processor (Avro in, core, Avro out)": _profile(
            _imbalance_path(frames), out_dir / "profile-imbalance.txt"
        ),
    }
