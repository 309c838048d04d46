"""Replay against the real broker and registry: record sets, filters, merge order, determinism, sinks."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from ops.cli import main
from ops.stack.local import Endpoints
from processors.replay import DEFAULT_LATENESS_MS, Replay, Replayed, ReplayRequest, TimeRange
from processors.replay.files import write_files
from tests.replay.conftest import SYMBOLS, MarketData
from tests.replay.data import T0_MS
from tests.replay.reference import expected_order

pytestmark = pytest.mark.integration


def _replay(services: Endpoints, request: ReplayRequest) -> list[Replayed]:
    with Replay(request, services.bootstrap_servers, services.schema_registry_url) as replay:
        return list(replay)


def _lateness(market: MarketData, topics: tuple[str, ...], override: int | None = None) -> dict[str, int]:
    schemas = market.schemas()
    return {t: DEFAULT_LATENESS_MS[schemas[t]] if override is None else override for t in topics}


def _check(services: Endpoints, market: MarketData, request: ReplayRequest) -> list[Replayed]:
    got = _replay(services, request)
    window = request.time_range
    expected = expected_order(
        request.topics,
        market.contents,
        window.start_ms,
        window.end_ms,
        _lateness(market, request.topics, request.lateness_ms),
        request.symbols,
    )
    assert [r[:4] for r in got] == [key for key, _ in expected]
    assert [(r.topic, r.key, r.timestamp_ms, r.value) for r in got] == [
        (p.topic, p.key, p.timestamp_ms, p.value) for _, p in expected
    ]
    return got


def test_exact_record_set_at_millisecond_boundaries(services: Endpoints, market: MarketData) -> None:
    stamps = sorted({p.timestamp_ms for p in market.contents[market.ticker]})
    start, end = stamps[len(stamps) // 5], stamps[len(stamps) * 4 // 5]
    got = _check(services, market, ReplayRequest((market.ticker,), TimeRange(start, end)))
    in_range = {(p.partition, p.offset) for p in market.contents[market.ticker] if start <= p.timestamp_ms < end}
    assert {(r.partition, r.offset) for r in got} == in_range
    assert any(r.timestamp_ms == start for r in got)
    assert all(r.timestamp_ms < end for r in got)
    one_ms = _replay(services, ReplayRequest((market.ticker,), TimeRange(end, end + 1)))
    assert one_ms and {r.timestamp_ms for r in one_ms} == {end}


def test_out_of_order_records_are_merged_by_time_within_the_lateness(services: Endpoints, market: MarketData) -> None:
    by_offset = sorted(market.contents[market.ticker], key=lambda p: (p.partition, p.offset))
    # Symbols sharing a partition come over separate connections: the partition is not in exchange-time order.
    assert any(a.partition == b.partition and b.timestamp_ms < a.timestamp_ms for a, b in itertools.pairwise(by_offset))
    got = _check(services, market, ReplayRequest((market.ticker,), TimeRange(T0_MS, T0_MS + 60_000)))
    assert [r.timestamp_ms for r in got] == sorted(r.timestamp_ms for r in got)


def test_lateness_zero_keeps_partition_offset_order(services: Endpoints, market: MarketData) -> None:
    got = _check(services, market, ReplayRequest((market.ticker,), TimeRange(T0_MS, T0_MS + 60_000), lateness_ms=0))
    for partition in range(3):
        offsets = [r.offset for r in got if r.partition == partition]
        assert offsets == sorted(offsets) and offsets


def test_symbol_filter_is_the_filtered_full_stream(services: Endpoints, market: MarketData) -> None:
    window = TimeRange(T0_MS + 1_000, T0_MS + 30_000)
    full = _replay(services, ReplayRequest((market.ticker, market.depth), window))
    only = _check(services, market, ReplayRequest((market.ticker, market.depth), window, ("ETHUSDTM", "XBTUSDM")))
    assert only == [r for r in full if r.key in (b"ETHUSDTM", b"XBTUSDM")]
    assert {r.key for r in only} == {b"ETHUSDTM", b"XBTUSDM"}


def test_multi_topic_merge_order_and_tie_break(services: Endpoints, market: MarketData) -> None:
    window = TimeRange(T0_MS - 180_000, T0_MS + 60_000)  # backfilled klines, then streamed tickers and books
    topics = (market.depth, market.ticker, market.kline)
    got = _check(services, market, ReplayRequest(topics, window))
    assert {r.topic for r in got} == set(topics)
    ties = [(a, b) for a, b in itertools.pairwise(got) if a.merge_ts_ms == b.merge_ts_ms and a.topic != b.topic]
    assert ties and all(a.topic_index < b.topic_index for a, b in ties)
    swapped = _replay(services, ReplayRequest((market.ticker, market.depth, market.kline), window))
    assert {(r.topic, r.partition, r.offset) for r in swapped} == {(r.topic, r.partition, r.offset) for r in got}
    assert [r.offset for r in swapped] != [r.offset for r in got]  # the user's topic order decides the ties


def test_repeated_runs_are_byte_identical(
    services: Endpoints, market: MarketData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for run in range(2):
        out = tmp_path / f"run{run}.jsonl"
        argv = ["replay", "export", "--topic", market.depth, "--topic", market.ticker, "--topic", market.kline]
        argv += ["--start", str(T0_MS), "--end", "2024-11-15T10:13:30.001Z", "--out", str(out)]
        assert main(argv) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") > 1_000
    first = json.loads(outputs[0].splitlines()[0])
    assert set(first) == {"topic", "partition", "offset", "timestamp_ms", "key", "value"}
    assert "record(s)" in capsys.readouterr().err


def test_files_split_per_topic_and_symbol(services: Endpoints, market: MarketData, tmp_path: Path) -> None:
    request = ReplayRequest((market.ticker, market.kline), TimeRange(T0_MS - 60_000, T0_MS + 90_000))
    with Replay(request, services.bootstrap_servers, services.schema_registry_url) as replay:
        counts = write_files(replay, tmp_path, "jsonl", "symbol", replay.schemas)
    assert len(counts) == 2 * len(SYMBOLS)
    for name, count in counts.items():
        path = Path(name)
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(lines) == count
        assert {(line["topic"], line["key"]) for line in lines} == {(path.parent.name, path.stem)}
