"""``verify`` against the real broker: live-equivalent derived topics give zero differences; a tampered one is
caught. The derived topics are written the way the live job writes them: its core per input partition in
offset order, key = symbol, timestamp = the output's event time."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ops.cli import main
from ops.stack.local import Endpoints
from processors.jobs import JobSpec, job
from processors.replay import TimeRange, verify
from schemas.derived import TickerBar
from tests.replay.data import SYMBOLS, T0_MS, Published, publish, read_back, tickers
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


@pytest.fixture
def pipeline(services: Endpoints) -> tuple[str, dict[str, str], dict[str, list[Any]]]:
    """A raw ticker topic and its derived topics; returns (raw topic, derived topics by schema, outputs)."""
    spec = job("ticker-bars")
    raw_topic = unique_name("verify-raw")
    derived = {name: unique_name(f"verify-{name}") for name in spec.default_topics()}
    create_topics(services.bootstrap_servers, [raw_topic, *derived.values()], 3)
    publish(services.bootstrap_servers, services.schema_registry_url, raw_topic, spec.input,
            tickers(8_000, seed=7, step_ms=40, very_late=0.01), SYMBOLS.index)  # fmt: skip
    raw = read_back(services.bootstrap_servers, services.schema_registry_url, raw_topic, spec.input)
    outputs = _derive(raw, spec)
    return raw_topic, derived, outputs


def _publish_outputs(services: Endpoints, derived: dict[str, str], outputs: dict[str, list[Any]]) -> None:
    spec = job("ticker-bars")
    by_schema = {output.schema.name: output for output in spec.outputs.values()}
    for name, records in outputs.items():
        output = by_schema[name]
        publish(services.bootstrap_servers, services.schema_registry_url, derived[name], output.schema, records,
                SYMBOLS.index, output.event_time_ms)  # fmt: skip


def test_verify_reports_zero_differences_then_catches_a_tampered_bar(
    services: Endpoints, pipeline: tuple[str, dict[str, str], dict[str, list[Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    raw_topic, derived, outputs = pipeline
    bars = outputs["ticker_bar"]
    assert len(bars) > 100 and outputs.get("late_event")  # the data exercises late events too
    victim = next(i for i, bar in enumerate(bars) if bar.interval_ms == 60_000 and bar.bar_start_ms > T0_MS + 60_000)
    window = TimeRange(T0_MS + 45_000, bars[victim].bar_end_ms + 30_000)
    _publish_outputs(services, derived, outputs)
    args = (services.bootstrap_servers, services.schema_registry_url, derived)
    clean = verify("ticker-bars", raw_topic, window, *args)
    assert clean.ok, "\n".join(clean.lines())
    assert clean.replayed["TickerBar"] > 50 and clean.replayed == clean.live

    tampered_topics = {name: unique_name(f"verify-tampered-{name}") for name in derived}
    create_topics(services.bootstrap_servers, list(tampered_topics.values()), 3)
    original: TickerBar = bars[victim]
    tampered = dict(
        outputs, ticker_bar=[*bars[:victim], dataclasses.replace(original, close_mid="1.5"), *bars[victim + 1 :]]
    )
    _publish_outputs(services, tampered_topics, tampered)
    report = verify("ticker-bars", raw_topic, window, services.bootstrap_servers, services.schema_registry_url,
                    tampered_topics)  # fmt: skip
    assert [(d.kind, d.fields, d.replayed, d.live.close_mid) for d in report.differences] == [
        ("changed", ("close_mid",), original, "1.5")
    ]
    argv = ["replay", "verify", "--job", "ticker-bars", "--raw-topic", raw_topic, "--start", str(window.start_ms)]
    argv += ["--end", str(window.end_ms)] + [f"--derived={n}={t}" for n, t in tampered_topics.items()]
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "1 difference(s)" in printed and "close_mid: replayed" in printed
