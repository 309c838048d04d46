"""The batch decoder reads exactly what fastavro reads, and leaves every payload it does not take to fastavro."""

from __future__ import annotations

import io
import json
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest

from producers.kucoin.frames import Book, parse_frame
from schemas.catalog import ALL_SCHEMAS, RecordSchema, by_name
from schemas.codec import AvroCodec, from_datum, to_datum
from schemas.fast_decode import flat_decoder
from schemas.records import Depth50, Kline, TickerV2

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared/kucoin/captures"
RX = 1_790_000_000_000_000_000
SCHEMA_ID = 4242
HEADER = struct.pack(">bI", 0, SCHEMA_ID)
FLAT = [schema for schema in ALL_SCHEMAS if flat_decoder(schema.definition, HEADER, schema.record_type) is not None]
LONGS = [0, 1, -1, 63, -64, 64, -65, 2**27, -(2**28), 2**55, 2**56, 2**62, -(2**62), 2**63 - 1, -(2**63)]
TEXTS = [
    *("", "0", "88987.4", "2.0E-4", "-0.5", "1e+30", "XBTUSDTM", "a b", "!", "*", "~", "\x00", "\x01", "\x7f"),
    *("é", "€" * 30, "🚀", "x" * 21, "x" * 22, "x" * 63, "x" * 64, "y" * 300),
]
ITEM_COUNTS = [0, 0, 1, 2, 23, 24, 28, 50, 50, 63, 64, 200]


def _random_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(TEXTS)
    if roll < 0.2:
        return "".join(
            chr(rng.choice((rng.randrange(0x80), rng.randrange(0x80, 0x3000)))) for _ in range(rng.randrange(9))
        )
    return f"{rng.uniform(0, 1e6):.{rng.randrange(12)}f}"[: rng.choice((3, 9, 30))]


def _random_value(kind: Any, rng: random.Random) -> Any:
    if kind == "long":
        return rng.choice([rng.choice(LONGS), rng.randrange(-(2**63), 2**63), rng.randrange(-300, 300), RX])
    if kind == "string":
        return _random_text(rng)
    count = rng.choice(ITEM_COUNTS)
    return tuple(_random_text(rng) if rng.random() < 0.3 else str(rng.randrange(10**6)) for _ in range(count))


def _records(schema: RecordSchema, value: Callable[[str], Any], count: int) -> list[Any]:
    kinds = {f["name"]: f["type"] if isinstance(f["type"], str) else "array" for f in schema.definition["fields"]}
    return [schema.record_type(**{name: value(kind) for name, kind in kinds.items()}) for _ in range(count)]


def _random_records(schema: RecordSchema, rng: random.Random, count: int) -> list[Any]:
    return _records(schema, lambda kind: _random_value(kind, rng), count)


def _usual_records(schema: RecordSchema, rng: random.Random, count: int) -> list[Any]:
    """Records the fast path takes: ASCII strings up to 63 bytes, arrays of 1-21 byte items from "+" to "~", any
    64-bit integer."""

    def text(alphabet: range, longest: int) -> str:
        return "".join(map(chr, rng.choices(alphabet, k=rng.randrange(longest + 1))))

    def value(kind: str) -> Any:
        if kind == "string":
            return text(range(0x80), 63)
        if kind == "long":
            return rng.randrange(-(2**63), 2**63) >> rng.randrange(64)
        return tuple(text(range(ord("+"), ord("~") + 1), 20) + "0" for _ in range(rng.choice(ITEM_COUNTS[:-2])))

    return _records(schema, value, count)


def _fastavro(codec: AvroCodec[Any], payload: bytes) -> Any:
    """What fastavro reads from a payload: the record, or the type of its error."""
    try:
        return from_datum(codec.schema.record_type, codec.decode_datum(payload))
    except Exception as exc:
        return type(exc)


def _decoded(codec: AvroCodec[Any], payload: bytes) -> Any:
    """What the batch decoder reads from a payload alone: the record, or the type of its error."""
    try:
        return codec.decode_many([payload])[0]
    except Exception as exc:
        return type(exc)


def test_the_raw_market_data_schemas_decode_fast_and_the_others_are_left_to_fastavro() -> None:
    assert [schema.name for schema in FLAT] == ["ticker_v2", "depth50"]
    codec: AvroCodec[Kline] = AvroCodec(by_name("kline"), SCHEMA_ID)
    klines = [
        Kline("XBTUSDTM", 1, 60_000 * n, "1", "2", "0.5", "1.5", "7", None if n % 2 else "9", RX) for n in range(9)
    ]
    assert codec.decode_many([codec.encode(kline) for kline in klines]) == klines


@pytest.mark.parametrize("schema", FLAT, ids=lambda s: s.name)
def test_random_records_decode_as_fastavro_reads_them(schema: RecordSchema) -> None:
    codec: AvroCodec[Any] = AvroCodec(schema, SCHEMA_ID)
    rng = random.Random(schema.name)
    records = _random_records(schema, rng, 3000)
    payloads = [codec.encode_datum(to_datum(record)) for record in records]
    assert codec.decode_many(payloads) == records
    assert [_decoded(codec, payload) for payload in payloads] == records
    assert [_fastavro(codec, payload) for payload in payloads] == records


@pytest.mark.parametrize("schema", FLAT, ids=lambda s: s.name)
def test_batches_of_usual_records_take_the_fast_path(schema: RecordSchema) -> None:
    decoder = flat_decoder(schema.definition, HEADER, schema.record_type)
    assert decoder is not None
    codec: AvroCodec[Any] = AvroCodec(schema, SCHEMA_ID)
    usual = _usual_records(schema, random.Random(7), 2000)  # over 4,096 varints in one column
    assert decoder([codec.encode(record) for record in usual]) == usual
    assert decoder([]) == []


@pytest.mark.parametrize("schema", FLAT, ids=lambda s: s.name)
def test_damaged_payloads_get_fastavros_verdict(schema: RecordSchema) -> None:
    codec: AvroCodec[Any] = AvroCodec(schema, SCHEMA_ID)
    rng = random.Random(11)
    records = _usual_records(schema, rng, 1000) + _random_records(schema, rng, 300)
    damaged = []
    for payload in map(codec.encode, records):
        data = bytearray(payload)
        for _ in range(rng.randrange(1, 3)):
            data[rng.randrange(5, len(data))] = rng.choice((0, 1, 2, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        damaged += [bytes(data), payload[: rng.randrange(5, len(payload))], payload + b"\x00"]
    verdicts = [_fastavro(codec, payload) for payload in damaged]
    assert [_decoded(codec, payload) for payload in damaged] == verdicts
    good = [payload for payload, verdict in zip(damaged, verdicts, strict=True) if not isinstance(verdict, type)]
    assert codec.decode_many(good) == [verdict for verdict in verdicts if not isinstance(verdict, type)]


def test_varints_beyond_64_bits_are_left_to_fastavro() -> None:
    codec: AvroCodec[TickerV2] = AvroCodec(by_name("ticker_v2"), SCHEMA_ID)
    payload = codec.encode(TickerV2("A", 1, "1", "2", "3", "4", 5, 6))
    for varint in (b"\xff" * 9 + b"\x01", b"\xfe" * 9 + b"\x01", b"\xff" * 9 + b"\x02", b"\xff" * 10 + b"\x01"):
        damaged = payload[:8] + varint + payload[9:]
        assert _decoded(codec, damaged) == _fastavro(codec, damaged)


def test_a_batch_of_several_writer_versions_decodes_each_with_its_own() -> None:
    schema = by_name("ticker_v2")
    record = TickerV2("XBTUSDTM", 9, "88987.4", "713", "88987.5", "1037", 1731665526461000000, RX)
    fields = schema.definition["fields"]
    writers = {
        7: schema.definition,
        8: {**schema.definition, "fields": [*fields[:-1], {**fields[-1], "default": 0}]},  # same record: fast
        9: {**schema.definition, "fields": [*fields, {"name": "note", "type": "string", "default": ""}]},  # resolved
    }
    payloads = []
    for schema_id in (7, 8, 9, 7, 7, 9, 8):
        out = io.BytesIO()
        out.write(struct.pack(">bI", 0, schema_id))
        fastavro.schemaless_writer(out, fastavro.parse_schema(writers[schema_id]), {**to_datum(record), "note": "x"})
        payloads.append(out.getvalue())
    codec: AvroCodec[TickerV2] = AvroCodec(schema, 7, lambda schema_id: json.dumps(writers[schema_id]))
    assert codec.decode_many(payloads) == [record] * 7
    assert [_decoded(codec, payload) for payload in payloads] == [record] * 7


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="the shared captures are absent")
def test_every_market_data_capture_decodes_as_fastavro_reads_it() -> None:
    codecs: dict[type, AvroCodec[Any]] = {
        TickerV2: AvroCodec(by_name("ticker_v2"), 7),
        Depth50: AvroCodec(by_name("depth50"), 8),
    }
    payloads: dict[type, list[bytes]] = {TickerV2: [], Depth50: []}
    for name in ("ws_tickerV2.jsonl", "ws_depth50.jsonl"):
        for line in (CAPTURES / name).read_text().splitlines():
            raw = line[line.index(',"payload":') + len(',"payload":') : line.rindex("}")]
            event = parse_frame(raw, RX)
            record = event.record if isinstance(event, Book) else event
            payloads[type(record)].append(codecs[type(record)].encode(record))
    for kind, codec in codecs.items():
        assert codec.decode_many(payloads[kind]) == [_fastavro(codec, payload) for payload in payloads[kind]]
    assert sum(map(len, payloads.values())) >= 80


def test_arrays_decoded_before_are_shared_and_checked_against_their_count() -> None:
    """A book side seen before (same items region) comes from the decoder's cache, as the very same tuple; the count
    byte still decides: a region seen before under another count gets fastavro's verdict."""
    codec: AvroCodec[Depth50] = AvroCodec(by_name("depth50"), SCHEMA_ID)
    ladder = ("89999.5", "89999.4", "89999.3")
    books = [Depth50("XBTUSDTM", n, ladder, (str(n), "2", "3"), (), (), 1731680249700 + n, RX) for n in range(4)]
    first, again = (
        codec.decode_many([codec.encode(book) for book in books[:2]]),
        codec.decode_many([codec.encode(book) for book in books[2:]]),
    )
    assert first + again == books
    assert len({id(book.bid_prices) for book in first + again}) == 1
    payload = codec.encode(books[0])
    region_start = payload.index(b"\x0e89999.5")
    for count in (b"\x02", b"\x04", b"\x08", b"\x05", b"\x7e"):
        damaged = payload[: region_start - 1] + count + payload[region_start:]
        assert _decoded(codec, damaged) == _fastavro(codec, damaged)


@pytest.mark.parametrize("schema", FLAT, ids=lambda s: s.name)
def test_the_array_cache_is_bounded_and_never_changes_results(schema: RecordSchema) -> None:
    decoder = flat_decoder(schema.definition, HEADER, schema.record_type, array_cache_size=5)
    assert decoder is not None
    codec: AvroCodec[Any] = AvroCodec(schema, SCHEMA_ID)
    rng = random.Random(3)
    usual = _usual_records(schema, rng, 300)
    for _ in range(20):
        batch = rng.choices(usual, k=rng.randrange(1, 12))
        assert decoder([codec.encode(record) for record in batch]) == batch
        assert all(len(known) <= 5 + len(batch) for known in decoder._arrays.values())
