"""Replay sinks against the real broker: Parquet, paced re-publish, resume, and bad input on the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from ops.cli import main
from ops.stack.local import Endpoints
from processors.replay import Pacing, Replay, Replayed, ReplayRequest, TimeRange
from processors.replay.parquet import arrow_schema
from processors.replay.position import PositionFile
from processors.replay.republish import republish, target_codecs
from schemas.catalog import by_name
from schemas.registry import registry_client
from tests.replay.conftest import MarketData
from tests.replay.data import T0_MS, publish, read_back
from tests.support.kafka import create_topics, unique_name

pytestmark = pytest.mark.integration

TOLERANCE_S = 0.015
"""Stated tolerance of paced re-publish: each send within 15 ms of its schedule relative to the first."""


def _records(services: Endpoints, request: ReplayRequest) -> list[Replayed]:
    with Replay(request, services.bootstrap_servers, services.schema_registry_url) as replay:
        return list(replay)


def test_parquet_is_readable_with_the_documented_schema(
    services: Endpoints, market: MarketData, tmp_path: Path
) -> None:
    argv = ["replay", "export", "--topic", market.depth, "--topic", market.ticker, "--format", "parquet"]
    argv += ["--split", "topic", "--start", str(T0_MS), "--end", str(T0_MS + 30_000), "--out", str(tmp_path)]
    assert main(argv) == 0
    expected = _records(services, ReplayRequest((market.depth, market.ticker), TimeRange(T0_MS, T0_MS + 30_000)))
    for topic, schema in ((market.depth, by_name("depth50")), (market.ticker, by_name("ticker_v2"))):
        table = pq.read_table(tmp_path / f"{topic}.parquet")
        assert table.schema.equals(arrow_schema(schema))
        rows = table.to_pylist()
        mine = [r for r in expected if r.topic == topic]
        assert [(row["offset"], row["timestamp_ms"], row["key"]) for row in rows] == [
            (r.offset, r.timestamp_ms, r.key.decode() if r.key else None) for r in mine
        ]
        value = mine[0].value
        for name in value.__slots__:
            original = getattr(value, name)
            assert rows[0][name] == (list(original) if isinstance(original, tuple) else original)


def _target(services: Endpoints, source: str) -> str:
    name = unique_name("replay-target")
    create_topics(services.bootstrap_servers, [name], 3)
    return name


def test_republish_at_10x_keeps_relative_timing_and_content(services: Endpoints, market: MarketData) -> None:
    request = ReplayRequest((market.ticker,), TimeRange(T0_MS + 2_000, T0_MS + 5_000))
    target = _target(services, market.ticker)
    client = registry_client(services.schema_registry_url)
    sent: list[tuple[Replayed, float]] = []
    with Replay(request, services.bootstrap_servers, client) as replay:
        codecs = target_codecs(client, replay.schemas, {market.ticker: target})
        result = republish(
            replay, services.bootstrap_servers, codecs, Pacing(10.0), on_sent=lambda r, wall, n: sent.append((r, wall))
        )
    first_record, first_wall = sent[0]
    errors = [abs((wall - first_wall) - (r.merge_ts_ms - first_record.merge_ts_ms) / 10_000) for r, wall in sent]
    span = (sent[-1][0].merge_ts_ms - first_record.merge_ts_ms) / 10_000
    print(f"\n10x: {len(sent)} records over {span:.3f} s, max timing error {max(errors) * 1000:.2f} ms")
    assert span > 0.2 and max(errors) <= TOLERANCE_S
    assert result.sent == len(sent) and result.max_late_s <= TOLERANCE_S
    copied = read_back(services.bootstrap_servers, services.schema_registry_url, target, by_name("ticker_v2"))
    key = lambda item: (item[0], item[1], repr(item[2]))  # noqa: E731
    assert sorted(((p.key, p.timestamp_ms, p.value) for p in copied), key=key) == sorted(
        ((r.key, r.timestamp_ms, r.value) for r, _ in sent), key=key
    )


def test_republish_resumes_where_it_stopped(services: Endpoints, market: MarketData, tmp_path: Path) -> None:
    request = ReplayRequest((market.depth,), TimeRange(T0_MS, T0_MS + 20_000))
    target = _target(services, market.depth)
    client = registry_client(services.schema_registry_url)
    state = PositionFile(tmp_path / "position.json", {"test": "resume"})

    class Stop(Exception):
        pass

    def stop_at_100(record: Replayed, wall: float, sent: int) -> None:
        if sent == 100:
            raise Stop

    runs: list[Any] = []
    for on_sent in (stop_at_100, None):
        with Replay(request, services.bootstrap_servers, client) as replay:
            codecs = target_codecs(client, replay.schemas, {market.depth: target})
            try:
                runs.append(
                    republish(replay, services.bootstrap_servers, codecs, Pacing(None), state, on_sent, checkpoint_s=0)
                )
            except Stop:
                runs.append(None)
    total = len(_records(services, request))
    assert runs[0] is None and runs[1].skipped == 100 and runs[1].sent == total - 100
    copied = read_back(services.bootstrap_servers, services.schema_registry_url, target, by_name("depth50"))
    assert len(copied) == total
    assert state.load() is not None and state.load() == (runs[1].position, total)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--topic", "no.such.topic"], "unknown topic 'no.such.topic'"),
        (["--start", "2024-11-15T10:12:00Z", "--end", "2024-11-15T10:12:00Z"], "is empty"),
        (["--start", "2024-11-15T10:13:00Z", "--end", "2024-11-15T10:12:00Z"], "ends"),
        (["--start", "2024-11-15T10:12:00.0001Z"], "finer than a millisecond"),
        (["--start", "yesterday"], "neither epoch milliseconds nor an ISO-8601"),
    ],
)
def test_bad_input_is_one_line_without_traceback(
    services: Endpoints, market: MarketData, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    defaults = {"--topic": market.ticker, "--start": str(T0_MS), "--end": str(T0_MS + 1_000)}
    for option in ("--topic", "--start", "--end"):
        if option not in args:
            args = [*args, option, defaults[option]]
    assert main(["replay", "export", "--out", "-", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_range_beyond_retention_is_refused(
    services: Endpoints, market: MarketData, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = unique_name("replay-retention")
    create_topics(services.bootstrap_servers, [topic], 1)
    records = [p.value for p in market.contents[market.ticker][:200]]
    publish(services.bootstrap_servers, services.schema_registry_url, topic, by_name("ticker_v2"), records)
    admin = AdminClient({"bootstrap.servers": services.bootstrap_servers})
    for future in admin.delete_records([TopicPartition(topic, 0, 100)]).values():
        future.result(timeout=30)
    argv = ["replay", "export", "--topic", topic, "--start", str(T0_MS), "--end", str(T0_MS + 60_000), "--out", "-"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "deleted by retention" in err and "Traceback" not in err
