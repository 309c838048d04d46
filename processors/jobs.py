"""The three processing jobs as data: input schema, core processor, and where each derived record type goes.

One generic runner (:mod:`processors.runner`) and one Faust wiring (:mod:`processors.app`) serve all three; a job
differs only by this description.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from processors.core import ImbalanceProcessor, KlineRollupProcessor, SymbolState, TickerBarProcessor
from schemas import derived
from schemas.catalog import RecordSchema, by_name

__all__ = ["JOB_NAMES", "JobSpec", "Output", "Processor", "job"]


class Processor(Protocol):
    """The surface of the core processors the runner uses."""

    def process(self, record: Any) -> Sequence[object]: ...

    def snapshot_symbol(self, symbol: str) -> SymbolState | None: ...

    def restore_symbol(self, symbol: str, saved: SymbolState) -> None: ...


@dataclass(frozen=True, slots=True)
class Output:
    """A derived record type: its schema (and default topic) and its event time, used as the Kafka timestamp so
    that a replay writes byte-identical records, timestamps included."""

    schema: RecordSchema
    event_time_ms: Callable[[Any], int]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One processing job: what it reads, how it computes, where each output type goes."""

    name: str
    input: RecordSchema
    make_processor: Callable[[], Processor]
    outputs: Mapping[type, Output]

    def default_topics(self) -> dict[str, str]:
        """Output schema name -> default topic."""
        return {output.schema.name: output.schema.default_topic for output in self.outputs.values()}


def _bar_end(record: Any) -> int:
    return int(record.bar_end_ms)


_LATE = Output(by_name("late_event"), lambda late: late.event_ts_ns // 1_000_000)

JOB_NAMES = ("ticker-bars", "kline-bars", "imbalance")


def job(name: str, *, inverse_symbols: Iterable[str] = ()) -> JobSpec:
    """The job called ``name`` (one of :data:`JOB_NAMES`); ``inverse_symbols`` only matters to ``imbalance``."""
    if name == "ticker-bars":
        return JobSpec(
            name,
            by_name("ticker_v2"),
            TickerBarProcessor,
            {derived.TickerBar: Output(by_name("ticker_bar"), _bar_end), derived.LateEvent: _LATE},
        )
    if name == "kline-bars":
        return JobSpec(
            name,
            by_name("kline"),
            KlineRollupProcessor,
            {derived.KlineBar: Output(by_name("kline_bar"), _bar_end), derived.LateEvent: _LATE},
        )
    if name == "imbalance":
        inverse = frozenset(inverse_symbols)
        return JobSpec(
            name,
            by_name("depth50"),
            lambda: ImbalanceProcessor(inverse_symbols=inverse),
            {
                derived.Imbalance: Output(by_name("imbalance"), lambda snapshot: snapshot.exchange_ts_ms),
                derived.ImbalanceBar: Output(by_name("imbalance_bar"), _bar_end),
                derived.LateEvent: _LATE,
            },
        )
    raise ValueError(f"unknown job {name!r}; known: {', '.join(JOB_NAMES)}")
