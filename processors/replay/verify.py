"""Reprocessing check: run a job's pure core over a replayed raw range and compare with its derived topics.

The live job processes each input partition in offset order from wherever its state began; here the core
gets the raw records in that same order (merge lateness 0), starting a warm-up before the range (the job's
longest window plus its grace, so bars that straddle the range start are rebuilt whole) and reading a settle
time past its end (so the bars ending in the range close). Both sides are then cut to the same exchange-time
range (the Kafka timestamp each output gets: bar end, snapshot time, late event time) and compared as
multisets of typed records: any record only on one side is a difference, and a pair with the same identity
(type, symbol, interval, bar start...) is reported field by field.

For a job whose state began with its input topic, zero differences means the live output equals the
replayed output; a range near the live edge can show bars the live job has not closed yet.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka.schema_registry import SchemaRegistryClient

from processors.core import DEFAULT_IMBALANCE_WINDOWS, DEFAULT_TICKER_WINDOWS, WindowSpec, kline_windows
from processors.core.imbalance import PROCESSOR as IMBALANCE
from processors.core.kline_rollup import PROCESSOR as KLINE_ROLLUP
from processors.core.ticker_bars import PROCESSOR as TICKER_BARS
from processors.jobs import JOB_NAMES, JobSpec, job
from processors.replay.errors import ReplayError
from processors.replay.merge import Record
from processors.replay.reader import Replay
from processors.replay.request import ReplayRequest
from processors.replay.times import TimeRange
from schemas.derived import Imbalance, ImbalanceBar, KlineBar, LateEvent, TickerBar
from schemas.registry import registry_client

__all__ = ["Difference", "VerifyReport", "compare", "verify"]

_WINDOWS: Mapping[str, tuple[WindowSpec, str]] = {
    "ticker-bars": (DEFAULT_TICKER_WINDOWS, TICKER_BARS),
    "kline-bars": (kline_windows(), KLINE_ROLLUP),
    "imbalance": (DEFAULT_IMBALANCE_WINDOWS, IMBALANCE),
}
_SETTLE_MARGIN_MS = 60_000
_IDENTITY: Mapping[type, tuple[str, ...]] = {
    TickerBar: ("symbol", "interval_ms", "bar_start_ms"),
    KlineBar: ("symbol", "granularity_min", "bar_start_ms"),
    ImbalanceBar: ("symbol", "interval_ms", "bar_start_ms"),
    Imbalance: ("symbol", "sequence", "exchange_ts_ms"),
    LateEvent: ("processor", "reason", "symbol", "interval_ms", "event_ts_ns", "sequence"),
}


@dataclass(frozen=True, slots=True)
class Difference:
    """One record the two sides disagree on: only replayed (``missing`` live), only live (``unexpected``), or
    both with the same identity and different fields (``changed``)."""

    kind: str
    replayed: Any
    live: Any

    @property
    def fields(self) -> tuple[str, ...]:
        """The differing field names of a ``changed`` pair."""
        if self.replayed is None or self.live is None:
            return ()
        return tuple(
            f.name
            for f in dataclasses.fields(self.replayed)
            if getattr(self.replayed, f.name) != getattr(self.live, f.name)
        )

    def __str__(self) -> str:
        record = self.replayed if self.replayed is not None else self.live
        name = type(record).__name__
        identity = " ".join(f"{field}={getattr(record, field)}" for field in _IDENTITY[type(record)])
        if self.kind != "changed":
            return f"{self.kind:<10} {name} {identity}: {record}"
        changes = "; ".join(
            f"{field}: replayed {getattr(self.replayed, field)!r} != live {getattr(self.live, field)!r}"
            for field in self.fields
        )
        return f"{self.kind:<10} {name} {identity}: {changes}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Records compared per type and every difference."""

    job: str
    time_range: TimeRange
    replayed: Mapping[str, int]
    live: Mapping[str, int]
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        """A human report."""
        out = [f"verify {self.job} over {self.time_range}"]
        for name in sorted(set(self.replayed) | set(self.live)):
            out.append(f"  {name:<14} replayed {self.replayed.get(name, 0):>9,}  live {self.live.get(name, 0):>9,}")
        out += [f"  {difference}" for difference in self.differences]
        out.append(f"{len(self.differences)} difference(s)")
        return out


def _identity(record: Any) -> tuple[Any, ...]:
    return (type(record), *(getattr(record, field) for field in _IDENTITY[type(record)]))


def compare(replayed: Iterable[Any], live: Iterable[Any]) -> list[Difference]:
    """Differences between two multisets of derived records, in a stable order (pure)."""
    only_replayed = Counter(replayed)
    only_live = Counter(live)
    only_replayed, only_live = only_replayed - only_live, only_live - only_replayed
    by_identity: dict[tuple[Any, ...], list[Any]] = {}
    for record in only_live.elements():
        by_identity.setdefault(_identity(record), []).append(record)
    differences: list[Difference] = []
    for record in only_replayed.elements():
        twins = by_identity.get(_identity(record))
        if twins:
            differences.append(Difference("changed", record, twins.pop(0)))
        else:
            differences.append(Difference("missing", record, None))
    differences += [Difference("unexpected", None, record) for twins in by_identity.values() for record in twins]
    differences.sort(key=lambda d: repr(_identity(d.replayed if d.replayed is not None else d.live)))
    return differences


def _counts(records: Sequence[Any]) -> dict[str, int]:
    return dict(Counter(type(record).__name__ for record in records))


def verify(
    job_name: str,
    raw_topic: str,
    time_range: TimeRange,
    bootstrap_servers: str,
    registry: SchemaRegistryClient | str,
    derived_topics: Mapping[str, str] | None = None,
    symbols: Sequence[str] = (),
    inverse_symbols: Iterable[str] = (),
    warmup_ms: int | None = None,
    settle_ms: int | None = None,
) -> VerifyReport:
    """Replay ``raw_topic`` through ``job_name``'s core and compare with its derived topics over ``time_range``.

    ``derived_topics`` maps output schema names (``ticker_bar``, ``late_event``...) to topics; the job's
    defaults fill the rest.
    """
    if job_name not in JOB_NAMES:
        raise ReplayError(f"unknown job {job_name!r}; known: {', '.join(JOB_NAMES)}")
    spec = job(job_name, inverse_symbols=inverse_symbols)
    topics = {**spec.default_topics(), **(derived_topics or {})}
    unknown = set(topics) - set(spec.default_topics())
    if unknown:
        raise ReplayError(f"{job_name} has no output {sorted(unknown)}; its outputs: {sorted(spec.default_topics())}")
    windows, processor_name = _WINDOWS[job_name]
    warmup = warmup_ms if warmup_ms is not None else max(i + windows.grace_for(i) for i in windows.intervals_ms)
    settle = (
        settle_ms if settle_ms is not None else max(map(windows.grace_for, windows.intervals_ms)) + _SETTLE_MARGIN_MS
    )
    client = registry_client(registry) if isinstance(registry, str) else registry
    derived = tuple(dict.fromkeys(topics.values()))
    live_request = ReplayRequest(derived, time_range, tuple(symbols))
    with Replay(ReplayRequest((raw_topic, *derived), time_range, tuple(symbols)), bootstrap_servers, client):
        pass  # checks every topic and the range against retention before any work
    replayed = _run_core(spec, raw_topic, time_range, warmup, settle, tuple(symbols), bootstrap_servers, client)
    with Replay(live_request, bootstrap_servers, client) as live_replay:
        live = [
            r.value for r in live_replay if not (isinstance(r.value, LateEvent) and r.value.processor != processor_name)
        ]
    return VerifyReport(job_name, time_range, _counts(replayed), _counts(live), tuple(compare(replayed, live)))


def _run_core(
    spec: JobSpec,
    raw_topic: str,
    time_range: TimeRange,
    warmup_ms: int,
    settle_ms: int,
    symbols: tuple[str, ...],
    bootstrap_servers: str,
    client: SchemaRegistryClient,
) -> list[Record]:
    """The job's outputs over the range, from its core fed the raw records in partition order."""
    extended = TimeRange(time_range.start_ms - warmup_ms, time_range.end_ms + settle_ms)
    request = ReplayRequest((raw_topic,), extended, symbols, lateness_ms=0, clip_to_retention=True)
    processor = spec.make_processor()
    start, end = time_range.start_ms, time_range.end_ms
    out: list[Record] = []
    with Replay(request, bootstrap_servers, client) as raw:
        if raw.schemas[raw_topic] != spec.input:
            raise ReplayError(
                f"{raw_topic} holds {raw.schemas[raw_topic].name} records; {spec.name} reads {spec.input.name}"
            )
        for record in raw:
            for output in processor.process(record.value):
                if start <= spec.outputs[type(output)].event_time_ms(output) < end:
                    out.append(cast(Record, output))
    return out
