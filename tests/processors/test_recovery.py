"""Crash recovery: snapshot anywhere, restore into a fresh processor, continue: the outputs must not change.

This is the property the exactly-once Faust wrapper relies on (state in a changelogged table, restored after a
crash), checked at many random cut points, through JSON (what a table would store), with and without
``emit_empty``, and per symbol as the wrapper would do it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pytest

from processors.core import (
    ImbalanceProcessor,
    KlineRollupProcessor,
    SymbolState,
    TickerBarProcessor,
    WindowSpec,
    kline_windows,
)
from tests.processors.streams import depth_stream, kline_stream, ticker_stream


class Processor(Protocol):
    state: dict[str, SymbolState]

    def process(self, record: Any) -> Sequence[object]: ...

    def flush(self) -> Sequence[object]: ...

    def snapshot_symbol(self, symbol: str) -> SymbolState | None: ...

    def restore_symbol(self, symbol: str, saved: SymbolState) -> None: ...


Case = tuple[Callable[[], Processor], list[Any]]


def _cases() -> dict[str, Case]:
    ticker_empty = WindowSpec((1_000, 60_000), emit_empty=True)
    depth_empty = WindowSpec((1_000, 60_000), {1_000: 500}, emit_empty=True)
    return {
        "ticker": (TickerBarProcessor, ticker_stream(7, 3_000)),
        "ticker_empty": (lambda: TickerBarProcessor(ticker_empty), ticker_stream(8, 2_000)),
        "kline": (KlineRollupProcessor, kline_stream(7, 1_600)),
        "kline_empty": (
            lambda: KlineRollupProcessor(kline_windows((5, 60), grace_ms=60_000, emit_empty=True)),
            kline_stream(8, 400, missing=0.7),
        ),
        "imbalance": (
            lambda: ImbalanceProcessor(inverse_symbols={"XBTUSDM"}),
            depth_stream(7, 1_500, levels=12),
        ),
        "imbalance_empty": (lambda: ImbalanceProcessor(depth_empty), depth_stream(8, 1_000, levels=6)),
    }


CASES = _cases()


def _run(make: Callable[[], Processor], records: Sequence[Any]) -> list[object]:
    processor = make()
    out: list[object] = []
    for record in records:
        out.extend(processor.process(record))
    out.extend(processor.flush())
    return out


def _json(state: Any) -> Any:
    """What a changelogged table holds: the state after a JSON round trip."""
    return json.loads(json.dumps(state, allow_nan=False))


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot_restore_at_random_cuts_gives_the_uninterrupted_outputs(name: str) -> None:
    make, records = CASES[name]
    expected = _run(make, records)
    rng = random.Random(name)
    for cut in [*sorted(rng.sample(range(len(records) + 1), 40)), 0, len(records)]:
        first = make()
        out: list[object] = []
        for record in records[:cut]:
            out.extend(first.process(record))
        second = make()
        second.state = _json(first.state)
        for record in records[cut:]:
            out.extend(second.process(record))
        out.extend(second.flush())
        assert out == expected, f"cut at {cut}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_symbol_state_after_every_record_recovers_anywhere(name: str) -> None:
    """The Faust wrapper's way: after each record, store that record's symbol state; crash; restore all."""
    make, records = CASES[name]
    records = records[:600]
    expected = _run(make, records)
    live = make()
    table: dict[str, Any] = {}
    outputs: list[object] = []
    crash_points = set(random.Random(1).sample(range(len(records)), 25))
    for index, record in enumerate(records):
        if index in crash_points:
            live = make()
            for symbol, saved in table.items():
                live.restore_symbol(symbol, _json(saved))
        outputs.extend(live.process(record))
        table[record.symbol] = live.snapshot_symbol(record.symbol)
    outputs.extend(live.flush())
    assert outputs == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_input_gives_identical_outputs(name: str) -> None:
    make, records = CASES[name]
    assert _run(make, records) == _run(make, records)


@pytest.mark.parametrize("name", sorted(CASES))
def test_streams_exercise_late_events_and_bars(name: str) -> None:
    """Guards the test data: the recovery tests above only mean something if bars and late events occur."""
    make, records = CASES[name]
    kinds = {type(output).__name__ for output in _run(make, records)}
    assert "LateEvent" in kinds
    assert len(kinds) >= 2


def test_snapshot_is_detached_from_the_live_state() -> None:
    processor = TickerBarProcessor()
    records = ticker_stream(3, 50)
    for record in records[:25]:
        processor.process(record)
    before = json.dumps(processor.state)
    frozen = processor.state
    for record in records[25:]:
        processor.process(record)
    assert json.dumps(frozen) == before


def test_restore_refuses_a_state_of_other_intervals() -> None:
    processor = TickerBarProcessor()
    processor.process(ticker_stream(3, 1)[0])
    other = TickerBarProcessor(WindowSpec((1_000,)))
    with pytest.raises(ValueError, match="intervals"):
        other.state = processor.state
