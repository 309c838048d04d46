"""The fast encoder writes fastavro's bytes exactly, and leaves every value it does not take to fastavro."""

from __future__ import annotations

import dataclasses
import io
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest

from producers.kucoin.frames import Book, parse_frame
from schemas.catalog import ALL_SCHEMAS, RecordSchema, by_name
from schemas.codec import AvroCodec
from schemas.fast_encode import flat_encoder
from schemas.records import Depth50, TickerV2
from tests.schemas.fastavro_verdict import assert_codec_agrees_with_fastavro, fastavro_payload

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared/kucoin/captures"
RX = 1_790_000_000_000_000_000
HEADER = b"\x00\x00\x00\x10\x92"
LONGS = [0, 1, -1, 63, -64, 64, -65, 2**27 - 1, 2**27, 2**28, -(2**28), 2**62 - 1, 2**62, -(2**62), 2**63 - 1, -(2**63)]
TEXTS = ["", "0", "88987.4", "2.0E-4", "é", "€" * 30, "🚀", "x" * 63, "x" * 64, "y" * 9000]
FLAT = [schema for schema in ALL_SCHEMAS if flat_encoder(schema.definition, HEADER) is not None]


def _random_value(kind: Any, rng: random.Random) -> Any:
    if kind == "long":
        return rng.choice([rng.choice(LONGS), rng.randrange(-(2**63), 2**63), rng.randrange(-300, 300)])
    if kind == "string":
        return rng.choice([rng.choice(TEXTS), f"{rng.uniform(0, 1e6):.{rng.randrange(9)}f}"])
    count = rng.choice([0, 1, 2, 63, 64, 65, 200, rng.randrange(100)])
    return tuple(_random_value("string", rng) for _ in range(count))


def test_the_raw_market_data_schemas_are_flat_and_the_others_are_left_to_fastavro() -> None:
    assert {"ticker_v2", "depth50"} <= {schema.name for schema in FLAT}
    assert by_name("kline") not in FLAT and by_name("dead_letter") not in FLAT


@pytest.mark.parametrize("schema", FLAT, ids=lambda s: s.name)
def test_random_records_encode_to_fastavros_bytes(schema: RecordSchema) -> None:
    codec: AvroCodec[Any] = AvroCodec(schema, 4242)
    encoder = flat_encoder(schema.definition, HEADER)
    assert encoder is not None
    kinds = {
        f["name"]: f["type"]["type"] if isinstance(f["type"], dict) else f["type"] for f in schema.definition["fields"]
    }
    rng = random.Random(schema.name)
    for _ in range(2000):
        record = schema.record_type(**{name: _random_value(kind, rng) for name, kind in kinds.items()})
        assert encoder(record) == fastavro_payload(codec, record), record


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="the shared captures are absent")
def test_every_market_data_capture_encodes_to_fastavros_bytes() -> None:
    codecs: dict[type, AvroCodec[Any]] = {
        TickerV2: AvroCodec(by_name("ticker_v2"), 7),
        Depth50: AvroCodec(by_name("depth50"), 8),
    }
    encoded = 0
    for name in ("ws_tickerV2.jsonl", "ws_depth50.jsonl"):
        for line in (CAPTURES / name).read_text().splitlines():
            raw = line[line.index(',"payload":') + len(',"payload":') : line.rindex("}")]
            event = parse_frame(raw, RX)
            record = event.record if isinstance(event, Book) else event
            codec = codecs[type(record)]
            assert codec.encode(record) == fastavro_payload(codec, record), raw
            encoded += 1
    assert encoded >= 80


def _off_type(record: Any, **changes: Any) -> Any:
    """A record with values its type hints do not allow (as a schema-invalid record from a bug would have)."""
    return dataclasses.replace(record, **changes)


BASE_TICKER = TickerV2("XBTUSDTM", 1, "88987.4", "713", "88987.5", "1037", 1731665526461000000, RX)
BASE_DEPTH = Depth50("XBTUSDTM", 1, ("2", "1"), ("5", "6"), ("3",), ("7",), 1731680249700, RX)
UNUSUAL: list[Any] = [
    _off_type(BASE_TICKER, sequence=True),
    _off_type(BASE_TICKER, sequence=2**63),
    _off_type(BASE_TICKER, sequence=-(2**63) - 1),
    _off_type(BASE_TICKER, sequence=1.5),
    _off_type(BASE_TICKER, sequence="1"),
    _off_type(BASE_TICKER, best_bid_price=None),
    _off_type(BASE_TICKER, best_bid_price=88987.4),
    _off_type(BASE_TICKER, best_bid_price=b"88987.4"),
    _off_type(BASE_TICKER, best_bid_price="\ud800"),
    _off_type(BASE_TICKER, symbol=["XBTUSDTM"]),
    _off_type(BASE_DEPTH, bid_prices=("2", None)),
    _off_type(BASE_DEPTH, bid_prices=("2", 1)),
    _off_type(BASE_DEPTH, bid_prices=["2", "1"]),
    _off_type(BASE_DEPTH, bid_prices="21"),
    _off_type(BASE_DEPTH, bid_prices=None),
    _off_type(BASE_DEPTH, ask_sizes=("\udcff",)),
]


@pytest.mark.parametrize("record", UNUSUAL, ids=range(len(UNUSUAL)))
def test_values_off_the_fast_path_get_fastavros_verdict(record: Any) -> None:
    codec: AvroCodec[Any] = AvroCodec(by_name("ticker_v2" if isinstance(record, TickerV2) else "depth50"), 3)
    assert_codec_agrees_with_fastavro(codec, record)


def test_the_string_cache_is_bounded_and_never_changes_results() -> None:
    schema = by_name("depth50")
    encoder = flat_encoder(schema.definition, HEADER, cache_size=5)
    assert encoder is not None
    codec: AvroCodec[Depth50] = AvroCodec(schema, 0x1092)
    rng = random.Random(5)
    for _ in range(300):
        prices = tuple(str(rng.randrange(20)) for _ in range(rng.randrange(8)))
        record = dataclasses.replace(BASE_DEPTH, bid_prices=prices, ask_sizes=prices[::-1])
        assert encoder(record) == fastavro_payload(codec, record)
        assert len(encoder._strings) <= 5


def test_the_array_cache_goes_by_identity_is_bounded_and_never_changes_results() -> None:
    """Blocks are cached per tuple object: the same tuple again, an equal but distinct one, and fresh tuples whose
    ids the interpreter recycles once the cache has let them go all encode as fastavro does."""
    schema = by_name("depth50")
    encoder = flat_encoder(schema.definition, HEADER, array_cache_size=3)
    assert encoder is not None
    codec: AvroCodec[Depth50] = AvroCodec(schema, 0x1092)
    rng = random.Random(6)
    kept = ("1", "2")
    for _ in range(500):
        fresh = tuple(str(rng.randrange(30)) for _ in range(rng.randrange(6)))
        for prices in (kept, tuple(list(kept)), fresh, fresh):
            record = dataclasses.replace(BASE_DEPTH, bid_prices=prices, ask_prices=fresh)
            assert encoder(record) == fastavro_payload(codec, record)
            assert len(encoder._arrays) <= 3


@pytest.mark.parametrize(
    "fields",
    [
        [{"name": "from", "type": "string"}, {"name": "x", "type": "long"}],  # a Python keyword
        [{"name": "only", "type": {"type": "array", "items": "string"}}],
    ],
    ids=["keyword", "one-field"],
)
def test_any_flat_record_encodes_to_fastavros_bytes(fields: list[dict[str, Any]]) -> None:
    definition = {"type": "record", "name": "Odd", "fields": fields}
    encoder = flat_encoder(definition, HEADER)
    assert encoder is not None
    values = {"from": "é", "x": -(2**40), "only": ("1", "22")}
    record = SimpleNamespace(**{field["name"]: values[field["name"]] for field in fields})
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(definition), vars(record))
    assert encoder(record) == HEADER + out.getvalue()
