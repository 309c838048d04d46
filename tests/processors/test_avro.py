"""Every derived record serialises with fastavro against its ``.avsc``, and the dataclasses mirror the schemas."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

import processors.core
import schemas.derived
from processors.core import ImbalanceProcessor, KlineRollupProcessor, TickerBarProcessor, WindowSpec
from schemas.derived import (
    DepthImbalance,
    DepthImbalanceStats,
    Imbalance,
    ImbalanceBar,
    KlineBar,
    LateEvent,
    Stats,
    TickerBar,
)
from tests.processors.streams import depth_stream, kline_stream, ticker_stream

SCHEMA_DIR = Path(schemas.derived.__file__).parent
SCHEMA_FILES: dict[type, str] = {
    TickerBar: "ticker_bar.avsc",
    KlineBar: "kline_bar.avsc",
    Imbalance: "imbalance.avsc",
    ImbalanceBar: "imbalance_bar.avsc",
    LateEvent: "late_event.avsc",
}
NESTED: dict[type, tuple[type, str, str]] = {
    DepthImbalance: (Imbalance, "depths", "items"),
    Stats: (ImbalanceBar, "spread_bps", ""),
    DepthImbalanceStats: (ImbalanceBar, "depths", "items"),
}


def _definition(cls: type) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / SCHEMA_FILES[cls]).read_text())
    return loaded


def _field_type(record: dict[str, Any], name: str) -> Any:
    return next(f["type"] for f in record["fields"] if f["name"] == name)


def _outputs() -> list[object]:
    """Real outputs of every processor, carried bars and LateEvents included."""
    out: list[object] = []
    runs: list[tuple[Any, list[Any]]] = [
        (TickerBarProcessor(WindowSpec((1_000, 60_000), emit_empty=True)), ticker_stream(5, 400)),
        (KlineRollupProcessor(), kline_stream(5, 200)),
        (ImbalanceProcessor(inverse_symbols={"XBTUSDM"}), depth_stream(5, 300, levels=8)),
    ]
    for processor, records in runs:
        for record in records:
            out.extend(processor.process(record))
        out.extend(processor.flush())
    return out


OUTPUTS = _outputs()


def _name(value: object) -> str:
    return getattr(value, "__name__", str(value))


@pytest.mark.parametrize("cls", list(SCHEMA_FILES), ids=_name)
def test_outputs_round_trip_through_their_schema(cls: type) -> None:
    schema = fastavro.parse_schema(_definition(cls))
    samples = [o for o in OUTPUTS if type(o) is cls]
    assert samples, f"no {cls.__name__} produced"
    for sample in samples:
        datum = dataclasses.asdict(sample)  # type: ignore[call-overload]
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, datum)
        buffer.seek(0)
        back = fastavro.schemaless_reader(buffer, schema, schema)
        assert back == json.loads(json.dumps(datum)), sample  # tuples come back as lists


def test_nullable_fields_serialise_as_null() -> None:
    stats = Stats(0, None, None, None, None)
    records: list[object] = [
        Imbalance("X", 1, 2, None, None, None, None, None, (DepthImbalance(1, None, None),)),
        ImbalanceBar("X", 1_000, 0, 1_000, 1, 1, 1, stats, (DepthImbalanceStats(1, stats, stats),)),
        KlineBar("X", 5, 0, 300_000, "1", "1", "1", "1", "0", None, 1),
        LateEvent("kline_rollup", "late", "X", 300_000, 0, 300_000, 0, 1, None, 0),
    ]
    for record in records:
        schema = fastavro.parse_schema(_definition(type(record)))
        fastavro.schemaless_writer(io.BytesIO(), schema, dataclasses.asdict(record))  # type: ignore[call-overload]


@pytest.mark.parametrize("cls", [*SCHEMA_FILES, *NESTED], ids=_name)
def test_dataclass_fields_mirror_the_schema_in_order(cls: type) -> None:
    if cls in SCHEMA_FILES:
        record = _definition(cls)
    else:
        parent, field, key = NESTED[cls]
        record = _field_type(_definition(parent), field)
        record = record[key] if key else record
    assert record["name"] == cls.__name__
    assert [f.name for f in dataclasses.fields(cls)] == [f["name"] for f in record["fields"]]
    assert all(f.get("doc") for f in record["fields"]), "every field has a doc"


def test_every_schema_is_in_the_derived_namespace() -> None:
    for cls in SCHEMA_FILES:
        assert _definition(cls)["namespace"] == "io.kucoinkafka.derived"


@pytest.mark.parametrize("module", [schemas.derived, processors.core], ids=_name)
def test_exports_are_sorted_and_complete(module: Any) -> None:
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, name) for name in exported)
