"""Schemas and codec without a registry: lint rules, dataclass/schema agreement, wire-format round trips."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest

from schemas.catalog import ALL_SCHEMAS, RAW_SCHEMAS, RecordSchema, by_name
from schemas.codec import AvroCodec, CodecError
from schemas.records import DeadLetter, Depth50, Kline, TickerV2
from schemas.registry import lint_schema

SAMPLES: dict[str, Any] = {
    "ticker_v2": TickerV2(
        "XBTUSDTM", 1709284589209, "88987.4", "713", "88987.5", "1037", 1731665526461000000, 1731665526461000123
    ),
    "depth50": Depth50(
        "XBTUSDM",
        1709294490099,
        ("31528.00000000", "31525"),
        ("0.62640", "54"),
        ("31606.0", "2.0E-4"),
        ("854", "4"),
        1731680249700,
        1731680249700999999,
    ),
    "kline": Kline("XBTUSDTM", 1, 1731898200000, "90638.6", "90640", "90630.0", "90638.6", "21.0", None, 17),
    "dead_letter": DeadLetter("ws:/contractMarket/tickerV2", "malformed JSON", b"{\xff", 1),
}


@pytest.mark.parametrize("schema", ALL_SCHEMAS, ids=lambda s: s.name)
def test_every_schema_is_namespaced_documented_and_parses(schema: RecordSchema) -> None:
    assert lint_schema(schema) == []


@pytest.mark.parametrize("schema", ALL_SCHEMAS, ids=lambda s: s.name)
def test_record_types_mirror_their_schema_field_for_field(schema: RecordSchema) -> None:
    avro_fields = [field["name"] for field in schema.definition["fields"]]
    assert avro_fields == [field.name for field in dataclasses.fields(schema.record_type)]


@pytest.mark.parametrize("schema", RAW_SCHEMAS, ids=lambda s: s.name)
def test_raw_records_round_trip_exactly_in_the_confluent_wire_format(schema: RecordSchema) -> None:
    codec: AvroCodec[Any] = AvroCodec(schema, 4242)
    record = SAMPLES[schema.name]
    payload = codec.encode(record)
    assert payload[0] == 0 and struct.unpack(">I", payload[1:5])[0] == 4242
    assert codec.decode(payload) == record


def test_nanosecond_timestamps_above_two_to_the_53_survive() -> None:
    codec: AvroCodec[TickerV2] = AvroCodec(by_name("ticker_v2"), 1)
    record = dataclasses.replace(SAMPLES["ticker_v2"], exchange_ts_ns=1654032575773272833)
    assert codec.decode(codec.encode(record)).exchange_ts_ns == 1654032575773272833


def test_an_older_writer_schema_is_resolved_to_the_current_reader_schema() -> None:
    kline = by_name("kline")
    old_definition = {**kline.definition, "fields": [f for f in kline.definition["fields"] if f["name"] != "turnover"]}
    old = RecordSchema("kline", Kline, kline.default_topic)
    old.__dict__["definition"] = old_definition  # an earlier version of the schema, without turnover
    old_payload = AvroCodec(old, 1).encode_datum(
        {k: v for k, v in dataclasses.asdict(SAMPLES["kline"]).items() if k != "turnover"}
    )
    current: AvroCodec[Kline] = AvroCodec(kline, 2, lambda schema_id: old.text)
    assert current.decode(old_payload) == SAMPLES["kline"]


def test_payloads_that_are_not_ours_are_refused_clearly() -> None:
    codec: AvroCodec[TickerV2] = AvroCodec(by_name("ticker_v2"), 1)
    with pytest.raises(CodecError, match="too short"):
        codec.decode(b"\x00\x00")
    with pytest.raises(CodecError, match="magic byte"):
        codec.decode(b"\x01\x00\x00\x00\x01rest")
    with pytest.raises(CodecError, match="no registry lookup"):
        codec.decode(b"\x00\x00\x00\x00\x09rest")
