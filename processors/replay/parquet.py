"""Parquet output (the optional ``parquet`` extra, pyarrow): the Arrow schema of a record type from its Avro
schema, and a row-group-buffered writer. Column layout: :mod:`processors.replay.files`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("Parquet output needs pyarrow: pip install 'kucoin-kafka[parquet]'") from exc

from processors.replay.files import envelope
from processors.replay.merge import Replayed
from schemas.catalog import RecordSchema
from schemas.codec import to_datum

__all__ = ["ENVELOPE_FIELDS", "ParquetWriter", "arrow_schema"]

_ROWS_PER_GROUP = 65_536
_PRIMITIVES: dict[str, Any] = {
    "string": pa.string(),
    "long": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "bytes": pa.binary(),
}
ENVELOPE_FIELDS: tuple[Any, ...] = (
    pa.field("topic", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("timestamp_ms", pa.int64(), nullable=False),
    pa.field("key", pa.string()),
)


def _arrow_type(avro: Any, named: dict[str, Any]) -> tuple[Any, bool]:
    """(Arrow type, nullable) of an Avro type; ``named`` collects records defined on the way for references."""
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro], False
        return named[avro], False
    if isinstance(avro, list):
        branches = [branch for branch in avro if branch != "null"]
        if len(branches) != 1:
            raise ValueError(f"only [null, T] unions map to Parquet: {avro}")
        arrow, _ = _arrow_type(branches[0], named)
        return arrow, True
    kind = avro["type"]
    if kind == "array":
        item, item_nullable = _arrow_type(avro["items"], named)
        return pa.list_(pa.field("item", item, nullable=item_nullable)), False
    if kind == "record":
        struct = pa.struct(_fields(avro, named))
        named[avro["name"]] = struct
        if avro.get("namespace"):
            named[f"{avro['namespace']}.{avro['name']}"] = struct
        return struct, False
    return _arrow_type(kind, named)


def _fields(record: dict[str, Any], named: dict[str, Any]) -> list[Any]:
    fields = []
    for field in record["fields"]:
        arrow, nullable = _arrow_type(field["type"], named)
        fields.append(pa.field(field["name"], arrow, nullable=nullable))
    return fields


def arrow_schema(schema: RecordSchema) -> Any:
    """Envelope columns, then the record's fields as columns."""
    return pa.schema([*ENVELOPE_FIELDS, *_fields(schema.definition, {})])


class ParquetWriter:
    """One Parquet file of one record type."""

    def __init__(self, path: Path, schema: RecordSchema) -> None:
        self._schema = arrow_schema(schema)
        self._writer = pq.ParquetWriter(path, self._schema)
        self._rows: list[dict[str, Any]] = []

    def write(self, record: Replayed) -> None:
        row = envelope(record)
        row.update(to_datum(record.value))
        self._rows.append(row)
        if len(self._rows) >= _ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()
