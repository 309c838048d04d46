"""The derived-record encoder writes fastavro's bytes exactly, and leaves every value it does not take to fastavro."""

from __future__ import annotations

import dataclasses
import io
import math
import random
import typing
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest

from processors.core import ImbalanceProcessor, KlineRollupProcessor, TickerBarProcessor, WindowSpec
from schemas.catalog import DERIVED_SCHEMAS, RecordSchema
from schemas.codec import AvroCodec
from schemas.derived import DepthImbalance, Imbalance, ImbalanceBar, LateEvent, Stats, TickerBar
from schemas.derived_encode import record_encoder
from tests.processors.streams import depth_stream, kline_stream, ticker_stream
from tests.schemas.fastavro_verdict import assert_codec_agrees_with_fastavro, fastavro_payload

HEADER = b"\x00\x00\x00\x10\x93"
LONGS = [0, 1, -1, 63, 64, -64, -65, 2**27, 2**28, -(2**28), 2**31 - 1, -(2**31), 2**62, 2**63 - 1, -(2**63)]
INTS = [0, 1, -1, 63, 64, -64, -65, 50, 2**31 - 1, -(2**31)]
DOUBLES = [0.0, -0.0, 1.5, -2.25, 1e-320, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan]
TEXTS = ["", "XBTUSDTM", "88987.4", "2.0E-4", "é", "€" * 30, "🚀", "x" * 63, "x" * 64, "y" * 9000]


def _random_value(schema: Any, hint: Any, named: dict[str, Any], rng: random.Random) -> Any:
    """A random value of Avro type ``schema`` for a dataclass field typed ``hint``."""
    if isinstance(schema, list):
        other = next(branch for branch in schema if branch != "null")
        return None if rng.random() < 0.3 else _random_value(other, hint, named, rng)
    if isinstance(schema, dict) and schema["type"] == "array":
        item_type = typing.get_args(hint)[0]
        return tuple(_random_value(schema["items"], item_type, named, rng) for _ in range(rng.choice([0, 1, 4, 65])))
    if isinstance(schema, dict) or schema in named:
        definition = named.setdefault(schema["name"], schema) if isinstance(schema, dict) else named[schema]
        return _random_record(hint, definition, named, rng)
    if schema == "long":
        return rng.choice([rng.choice(LONGS), rng.randrange(-(2**63), 2**63), rng.randrange(-300, 300)])
    if schema == "int":
        return rng.choice([rng.choice(INTS), rng.randrange(-(2**31), 2**31)])
    if schema == "double":
        return rng.choice([rng.choice(DOUBLES), rng.uniform(-1, 1), rng.uniform(-1e9, 1e9)])
    return rng.choice([rng.choice(TEXTS), f"{rng.uniform(0, 1e6):.{rng.randrange(9)}f}"])


def _random_record(cls: Any, definition: dict[str, Any], named: dict[str, Any], rng: random.Random) -> Any:
    hints = typing.get_type_hints(cls)
    fields = zip(dataclasses.fields(cls), definition["fields"], strict=True)
    return cls(*(_random_value(field["type"], hints[attribute.name], named, rng) for attribute, field in fields))


def _outputs() -> list[object]:
    """Real outputs of every processor (those of the golden and digest tests' streams), flushes included."""
    runs: list[tuple[Any, list[Any]]] = [
        (TickerBarProcessor(WindowSpec((1_000, 60_000), emit_empty=True)), ticker_stream(5, 2_000)),
        (KlineRollupProcessor(), kline_stream(5, 300)),
        (ImbalanceProcessor(inverse_symbols={"XBTUSDM"}), depth_stream(31, 3_000, levels=50)),
        (ImbalanceProcessor(depths=(3, 1, 100)), depth_stream(32, 2_000, levels=7, resend=0.3)),
        (ImbalanceProcessor(WindowSpec((1_000,), emit_empty=True), depths=(1, 2)), depth_stream(33, 1_000, levels=2)),
    ]
    out: list[object] = []
    for processor, records in runs:
        for record in records:
            out.extend(processor.process(record))
        out.extend(processor.flush())
    return out


def test_every_derived_schema_has_an_encoder() -> None:
    assert all(record_encoder(schema.definition, HEADER) is not None for schema in DERIVED_SCHEMAS)


@pytest.mark.parametrize("schema", DERIVED_SCHEMAS, ids=lambda s: s.name)
def test_random_records_encode_to_fastavros_bytes(schema: RecordSchema) -> None:
    """Nulls, NaN and infinities, negative and 64-bit longs, empty and long arrays, non-ASCII and long text."""
    codec: AvroCodec[Any] = AvroCodec(schema, 4243)
    encoder = record_encoder(schema.definition, HEADER, cache_size=50)  # small: the caches are emptied often
    assert encoder is not None
    rng = random.Random(schema.name)
    for _ in range(800):
        record = _random_record(schema.record_type, schema.definition, {}, rng)
        assert encoder(record) == codec.encode(record) == fastavro_payload(codec, record), record


def test_real_outputs_encode_to_fastavros_bytes() -> None:
    codecs: dict[type, AvroCodec[Any]] = {schema.record_type: AvroCodec(schema, 77) for schema in DERIVED_SCHEMAS}
    outputs = _outputs()
    assert {type(output) for output in outputs} == set(codecs)
    for output in outputs:
        codec = codecs[type(output)]
        assert codec.encode(output) == fastavro_payload(codec, output), output


def _off_type(record: Any, **changes: Any) -> Any:
    """A record with values its type hints do not allow (as a schema-invalid record from a bug would have)."""
    return dataclasses.replace(record, **changes)


STATS = Stats(3, 0.5, -1.0, -2.0, 2.0)
BAR = ImbalanceBar("XBTUSDTM", 1_000, 0, 1_000, 3, 1, 3, STATS, ())
SNAPSHOT = Imbalance("XBTUSDTM", 7, 1731680249700, "1", "2", "1.5", 1.4, 6.6, (DepthImbalance(1, 0.5, None),))
TICKER_BAR = TickerBar("XBTUSDTM", 1_000, 0, 1_000, "1", "2", "0", "1", "1", "2", 0.5, 1.0, 3, 1, 3, 10, 30)
LATE = LateEvent("imbalance", "late", "XBTUSDTM", 1_000, 0, 1_000, 5, 7, None, 9)
UNUSUAL: list[Any] = [
    _off_type(SNAPSHOT, sequence=True),
    _off_type(SNAPSHOT, sequence=2**63),
    _off_type(SNAPSHOT, sequence=-(2**63) - 1),
    _off_type(SNAPSHOT, sequence=1.0),
    _off_type(SNAPSHOT, symbol=None),
    _off_type(SNAPSHOT, symbol=["XBTUSDTM"]),
    _off_type(SNAPSHOT, symbol="\ud800"),
    _off_type(SNAPSHOT, best_bid_price=b"1"),
    _off_type(SNAPSHOT, best_bid_price=1.0),
    _off_type(SNAPSHOT, mid_price="\udcff"),
    _off_type(SNAPSHOT, microprice=1),
    _off_type(SNAPSHOT, microprice=True),
    _off_type(SNAPSHOT, microprice="1.0"),
    _off_type(SNAPSHOT, depths=None),
    _off_type(SNAPSHOT, depths=[DepthImbalance(1, 0.5, None)]),  # to_datum leaves a list as is
    _off_type(SNAPSHOT, depths=(DepthImbalance(2**31, 0.5, None),)),
    _off_type(SNAPSHOT, depths=(DepthImbalance(True, 0.5, None),)),
    _off_type(SNAPSHOT, depths=({"depth": 1, "size_imbalance": 0.5, "notional_imbalance": None},)),
    _off_type(SNAPSHOT, depths=(SimpleNamespace(depth=1),)),
    _off_type(BAR, spread_bps=None),
    _off_type(BAR, spread_bps=_off_type(STATS, mean=2)),
    _off_type(BAR, depths="abc"),
    _off_type(TICKER_BAR, spread_mean=None),
    _off_type(TICKER_BAR, spread_mean=1),
    _off_type(TICKER_BAR, update_count=None),
    _off_type(LATE, sequence=True),
    _off_type(LATE, sequence=2**64),
    _off_type(LATE, sequence="7"),
]


@pytest.mark.parametrize("record", UNUSUAL, ids=range(len(UNUSUAL)))
def test_values_off_the_fast_path_get_fastavros_verdict(record: Any) -> None:
    schema = next(schema for schema in DERIVED_SCHEMAS if isinstance(record, schema.record_type))
    codec: AvroCodec[Any] = AvroCodec(schema, 3)
    encoder = record_encoder(schema.definition, HEADER)
    assert encoder is not None and encoder(record) is None
    assert_codec_agrees_with_fastavro(codec, record)


def _record(fields: list[Any], name: str = "R", **extra: Any) -> dict[str, Any]:
    named_fields = [{"name": f"f{i}", "type": kind} for i, kind in enumerate(fields)]
    return {"type": "record", "name": name, "fields": named_fields, **extra}


@pytest.mark.parametrize(
    "definition",
    [
        _record(["string", "boolean"]),
        _record(["string", "bytes"]),
        _record(["string", "float"]),
        _record(["string", {"type": "map", "values": "long"}]),
        _record(["string", {"type": "enum", "name": "E", "symbols": ["A"]}]),
        _record(["string", {"type": "fixed", "name": "F", "size": 2}]),
        _record(["string", {"type": "long", "logicalType": "timestamp-millis"}]),
        _record(["string", {"type": "string"}]),
        _record(["string", ["null", "string", "long"]]),
        _record(["string", ["string", "long"]]),
        _record(["string", ["null", {"type": "array", "items": "long"}]]),
        _record(["string", ["null", _record(["long", "long"], "S")]]),
        _record(["string", {"type": "array", "items": "R"}]),  # recursive
        _record(["string", "Unknown"]),
        _record(["string", _record([], "Empty")]),
        {"type": "array", "items": "long"},
    ],
    ids=range(16),
)
def test_other_schemas_get_no_encoder(definition: dict[str, Any]) -> None:
    assert record_encoder(definition, HEADER) is None


def _namespace(datum: Any) -> Any:
    """The datum as an object with attributes (nested records too), as the encoder reads records."""
    if isinstance(datum, dict):
        return SimpleNamespace(**{key: _namespace(value) for key, value in datum.items()})
    if isinstance(datum, list):
        return tuple(map(_namespace, datum))
    return datum


def test_named_records_resolve_in_their_namespace() -> None:
    """A record defined inline inherits the enclosing namespace unless it names its own; references by short name
    resolve in the namespace they appear in, by full name anywhere."""
    inner = _record(["long", ["null", "double"]], "Inner")
    other = _record(["string", "int"], "Other", namespace="x.y")
    definition = _record(
        [inner, other, {"type": "array", "items": "Inner"}, "x.y.Other", "a.b.Inner", ["string", "null"]],
        "Outer",
        namespace="a.b",
    )
    encoder = record_encoder(definition, HEADER)
    assert encoder is not None
    parsed = fastavro.parse_schema(definition)
    for datum in [
        {
            "f0": {"f0": -5, "f1": None},
            "f1": {"f0": "é", "f1": -(2**31)},
            "f2": [{"f0": 2**40, "f1": -0.0}, {"f0": 0, "f1": math.inf}],
            "f3": {"f0": "", "f1": 63},
            "f4": {"f0": 64, "f1": 1e300},
            "f5": "z",
        },
        {
            "f0": {"f0": 0, "f1": 0.5},
            "f1": {"f0": "a", "f1": 64},
            "f2": [],
            "f3": {"f0": "b", "f1": -1},
            "f4": {"f0": -(2**63), "f1": None},
            "f5": None,
        },
    ]:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, datum)
        assert encoder(_namespace(datum)) == HEADER + out.getvalue()


def test_a_reference_before_the_definition_is_unsupported() -> None:
    assert record_encoder(_record(["Later", _record(["long", "long"], "Later")], namespace="n"), HEADER) is None
