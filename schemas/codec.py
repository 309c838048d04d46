"""Typed records <-> Avro in the Confluent Schema Registry wire format (magic 0, 4-byte schema id, Avro body).

Encoding uses the schema id registered at start-up (a warmed cache: no registry call per record),
:mod:`schemas.fast_encode` for flat schemas such as the raw market data and :mod:`schemas.derived_encode` for the
derived records (fastavro for anything else). Decoding reads the writer's schema id from each payload and resolves
it against the reader's schema, so records written with an older compatible version still decode;
:meth:`AvroCodec.decode_many` decodes a batch through :mod:`schemas.fast_decode` when the writer's schema is the
reader's own flat record (fastavro for anything else). Writer schemas are fetched once per id through a one-method
lookup, so the registry client stays at the edge.
"""

from __future__ import annotations

import dataclasses
import io
import json
import operator
import struct
import typing
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from itertools import chain
from typing import Any, Generic, TypeVar

import fastavro

from schemas.catalog import RecordSchema
from schemas.derived_encode import RecordEncoder, record_encoder
from schemas.fast_decode import FlatDecoder, flat_decoder
from schemas.fast_encode import flat_encoder

__all__ = ["AvroCodec", "CodecError", "from_datum", "to_datum"]

R = TypeVar("R")
_HEADER = struct.Struct(">bI")
MAGIC_BYTE = 0
_CHUNK_BYTES = 96 * 1024
"""Payload bytes decoded at once: the fast decoder's columns of one chunk stay in the CPU caches."""


class CodecError(ValueError):
    """A payload that is not Confluent-framed Avro of a known schema."""


def to_datum(record: Any) -> dict[str, Any]:
    """The Avro datum (a dict) of a record dataclass; nested records and tuples of records become dicts/lists."""
    flat = _flat_fields(typing.cast(type, type(record)))
    if flat is not None:  # the raw market-data records, once per frame: one C-level call per field list
        return dict(zip(record.__slots__, flat(record), strict=True))
    datum: dict[str, Any] = {}
    for name in record.__slots__:
        value = getattr(record, name)
        if isinstance(value, tuple):
            if value and dataclasses.is_dataclass(value[0]):  # tuples are homogeneous in our records
                value = [to_datum(item) for item in value]
        elif dataclasses.is_dataclass(value):
            value = to_datum(value)
        datum[name] = value
    return datum


@cache
def _flat_fields(cls: type) -> Callable[[Any], tuple[Any, ...]] | None:
    """A getter of every field, for records without nested records (None for those with them)."""
    if any(builder is not None and builder is not tuple for _, builder in _field_builders(cls)):
        return None
    names: tuple[str, ...] = getattr(cls, "__slots__")  # noqa: B009 (type has no __slots__ for mypy)
    if len(names) == 1:
        return lambda record: (getattr(record, names[0]),)
    return operator.attrgetter(*names)


@cache
def _field_builders(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Per field of ``cls``: how to rebuild the value from its datum (None: as is)."""
    hints = typing.get_type_hints(cls)
    builders: list[tuple[str, Callable[[Any], Any] | None]] = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        builder: Callable[[Any], Any] | None = None
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple and args and dataclasses.is_dataclass(args[0]):
            builder = _tuple_builder(typing.cast(type, args[0]))
        elif typing.get_origin(hint) is tuple:
            builder = tuple
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            nested = hint
            builder = lambda datum, nested=nested: from_datum(nested, datum)  # noqa: E731
        builders.append((field.name, builder))
    return tuple(builders)


def _tuple_builder(item_type: type) -> Callable[[Any], Any]:
    return lambda items: tuple(from_datum(item_type, item) for item in items)


def from_datum(cls: type[R], datum: dict[str, Any]) -> R:
    """Rebuild a record dataclass from its Avro datum."""
    record: R = _builder(typing.cast(type, cls))(datum)
    return record


@cache
def _builder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """``cls`` from a datum: positionally when no field needs rebuilding (a third of the cost), else by name."""
    builders = _field_builders(cls)
    if len(builders) > 1 and all(build is None for _, build in builders):
        values = operator.itemgetter(*(name for name, _ in builders))
        return lambda datum: cls(*values(datum))
    return lambda datum: cls(**{name: (build(datum[name]) if build else datum[name]) for name, build in builders})


class AvroCodec(Generic[R]):
    """Encode records of one schema under ``schema_id``; decode payloads of any registered version."""

    def __init__(
        self, schema: RecordSchema, schema_id: int, writer_schema_by_id: Callable[[int], str] | None = None
    ) -> None:
        self.schema = schema
        self.schema_id = schema_id
        self._parsed = fastavro.parse_schema(schema.definition)
        self._header = _HEADER.pack(MAGIC_BYTE, schema_id)
        self._writer_schema_by_id = writer_schema_by_id
        self._writers: dict[int, Any] = {schema_id: self._parsed}
        self._record_type: type[R] = schema.record_type
        self._fast: RecordEncoder | None = flat_encoder(schema.definition, self._header) or record_encoder(
            schema.definition, self._header
        )
        self._fast_decoders: dict[int, FlatDecoder | None] = {}

    def encode(self, record: R) -> bytes:
        """The framed Avro payload of ``record``."""
        if self._fast is not None:
            payload = self._fast(record)
            if payload is not None:
                return payload
        return self.encode_datum(to_datum(record))

    def encode_datum(self, datum: dict[str, Any]) -> bytes:
        """The framed Avro payload of an already-built datum (hot paths build datums directly)."""
        out = io.BytesIO()
        out.write(self._header)
        fastavro.schemaless_writer(out, self._parsed, datum)
        return out.getvalue()

    def decode_datum(self, payload: bytes) -> dict[str, Any]:
        """The datum of a framed payload, resolved to this codec's (reader) schema."""
        schema_id = self._schema_id(payload)
        writer = self._writers.get(schema_id)
        if writer is None:
            writer = fastavro.parse_schema(self._writer_definition(schema_id))
            self._writers[schema_id] = writer
        datum = fastavro.schemaless_reader(
            io.BytesIO(payload[_HEADER.size :]), writer, self._parsed if writer is not self._parsed else None
        )
        return typing.cast(dict[str, Any], datum)

    def decode(self, payload: bytes) -> R:
        """The typed record of a framed payload (:meth:`decode_many` decodes many several times faster)."""
        return from_datum(self._record_type, self.decode_datum(payload))

    def decode_many(self, payloads: Sequence[bytes]) -> list[R]:
        """The typed records of framed payloads, in order, exactly as :meth:`decode` gives them, several times
        faster per record: payloads of this codec's (flat) record go through :mod:`schemas.fast_decode`."""
        total = sum(map(len, payloads))
        if total <= _CHUNK_BYTES:
            return self._decode_chunk(payloads)
        size = max(1, len(payloads) * _CHUNK_BYTES // total)
        return list(
            chain.from_iterable(map(self._decode_chunk, map(payloads.__getitem__, _chunks(len(payloads), size))))
        )

    def _decode_chunk(self, payloads: Sequence[bytes]) -> list[R]:
        """The fast decoder over the whole chunk, halving it around any payload the fast decoder does not take."""
        fast = self._fast_decoder(payloads[0]) if payloads else None
        if fast is None:
            return list(map(self.decode, payloads))
        records = fast(payloads)
        if records is not None:
            return records
        if len(payloads) == 1:  # outside the fast path: fastavro's result (or error) stands
            return [self.decode(payloads[0])]
        half = len(payloads) // 2
        return self._decode_chunk(payloads[:half]) + self._decode_chunk(payloads[half:])

    def _schema_id(self, payload: bytes) -> int:
        if len(payload) < _HEADER.size:
            raise CodecError(f"payload of {len(payload)} bytes is too short for the Confluent wire format")
        magic, schema_id = _HEADER.unpack_from(payload)
        if magic != MAGIC_BYTE:
            raise CodecError(f"unknown magic byte {magic} (expected {MAGIC_BYTE})")
        return int(schema_id)

    def _writer_definition(self, schema_id: int) -> dict[str, Any]:
        if schema_id == self.schema_id:
            return self.schema.definition
        if self._writer_schema_by_id is None:
            raise CodecError(f"schema id {schema_id} is not {self.schema_id} and no registry lookup is configured")
        definition: dict[str, Any] = json.loads(self._writer_schema_by_id(schema_id))
        return definition

    def _fast_decoder(self, payload: bytes) -> FlatDecoder | None:
        """The batch decoder of ``payload``'s writer schema: None unless it is this codec's record, and flat."""
        try:
            schema_id = self._schema_id(payload)
        except CodecError:
            return None  # decode_datum says why
        if schema_id not in self._fast_decoders:
            writer = self._writer_definition(schema_id)
            same = _record_shape(writer) == _record_shape(self.schema.definition)
            header = _HEADER.pack(MAGIC_BYTE, schema_id)
            self._fast_decoders[schema_id] = flat_decoder(writer, header, self._record_type) if same else None
        return self._fast_decoders[schema_id]


def _chunks(length: int, size: int) -> Iterator[slice]:
    return map(slice, range(0, length, size), range(size, length + size, size))


def _record_shape(definition: dict[str, Any]) -> tuple[Any, ...]:
    """What decoding depends on: the record's names and its fields' names and types, in order."""
    fields = tuple((field["name"], json.dumps(field["type"], sort_keys=True)) for field in definition["fields"])
    return definition.get("namespace"), definition["name"], fields
