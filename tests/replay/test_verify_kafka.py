"""``verify`` against the real broker: live-equivalent derived topics give zero differences; a tampered one is
caught. The raw topics are the producers' (see ``conftest``); the derived topics are written the way the live job
writes them: its core per input partition in offset order, key = symbol, timestamp = the output's event time, in
the partition of the symbol's input."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ops.cli import main
from ops.stack.local import Endpoints
from processors.jobs import JobSpec, job
from processors.replay import TimeRange, verify
from schemas.derived import TickerBar
from tests.replay.conftest import MINUTE_MS, MarketData
from tests.replay.data import T0_MS, Published, publish
from tests.support.kafka import create_topics, unique_name

pytestmark = pytest.mark.integration


def _derive(raw: list[Published], spec: JobSpec) -> dict[str, list[Any]]:
    """What the live job emits, per output schema, in emission order."""
    processor = spec.make_processor()
    out: dict[str, list[Any]] = {}
    for record in sorted(raw, key=lambda p: (p.partition, p.offset)):
        for derived in processor.process(record.value):
            out.setdefault(spec.outputs[type(derived)].schema.name, []).append(derived)
    return out


def _publish_outputs(
    services: Endpoints, spec: JobSpec, raw: list[Published], outputs: dict[str, list[Any]], prefix: str
) -> dict[str, str]:
    """The outputs in fresh derived topics, one per output schema with it registered, as the live job registers
    them at start-up (even without records); returns the topics."""
    topics = {name: unique_name(f"{prefix}-{name}") for name in spec.default_topics()}
    create_topics(services.bootstrap_servers, list(topics.values()), 3)
    partition_of = {p.key.decode(): p.partition for p in raw}
    for output in spec.outputs.values():
        name = output.schema.name
        publish(services.bootstrap_servers, services.schema_registry_url, topics[name], output.schema,
                outputs.get(name, []), partition_of.__getitem__, output.event_time_ms)  # fmt: skip
    return topics


def test_verify_reports_zero_differences_then_catches_a_tampered_bar(
    services: Endpoints, market: MarketData, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = job("ticker-bars")
    raw = market.contents[market.ticker]
    outputs = _derive(raw, spec)
    bars = outputs["ticker_bar"]
    assert len(bars) > 100
    victim = next(i for i, bar in enumerate(bars) if bar.interval_ms == MINUTE_MS)
    window = TimeRange(T0_MS + 45_000, bars[victim].bar_end_ms + 30_000)
    derived = _publish_outputs(services, spec, raw, outputs, "verify")
    args = (services.bootstrap_servers, services.schema_registry_url, derived)
    clean = verify("ticker-bars", market.ticker, window, *args)
    assert clean.ok, "\n".join(clean.lines())
    assert clean.replayed["TickerBar"] > 50 and clean.replayed == clean.live

    original: TickerBar = bars[victim]
    tampered = dict(
        outputs, ticker_bar=[*bars[:victim], dataclasses.replace(original, close_mid="1.5"), *bars[victim + 1 :]]
    )
    tampered_topics = _publish_outputs(services, spec, raw, tampered, "verify-tampered")
    report = verify("ticker-bars", market.ticker, window, services.bootstrap_servers, services.schema_registry_url,
                    tampered_topics)  # fmt: skip
    assert [(d.kind, d.fields, d.replayed, d.live.close_mid) for d in report.differences] == [
        ("changed", ("close_mid",), original, "1.5")
    ]
    argv = ["replay", "verify", "--job", "ticker-bars", "--raw-topic", market.ticker, "--start", str(window.start_ms)]
    argv += ["--end", str(window.end_ms)] + [f"--derived={n}={t}" for n, t in tampered_topics.items()]
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "1 difference(s)" in printed and "close_mid: replayed" in printed


def test_verify_compares_late_events_too(services: Endpoints, market: MarketData) -> None:
    """The second kline backfill published older candles after newer ones: the roll-up's late events."""
    spec = job("kline-bars")
    raw = market.contents[market.kline]
    outputs = _derive(raw, spec)
    assert outputs.get("late_event") and outputs.get("kline_bar")
    derived = _publish_outputs(services, spec, raw, outputs, "verify-klines")
    window = TimeRange(T0_MS - 30 * MINUTE_MS, T0_MS + 5 * MINUTE_MS)
    report = verify("kline-bars", market.kline, window, services.bootstrap_servers, services.schema_registry_url,
                    derived)  # fmt: skip
    assert report.ok, "\n".join(report.lines())
    assert report.replayed["LateEvent"] > 0 and report.replayed["KlineBar"] > 0 and report.replayed == report.live
