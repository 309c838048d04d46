"""File sinks: JSON Lines and Parquet, in one file or one per topic or per topic and symbol.

Every output row is the record's envelope and its Avro datum, field for field:

======================  ==========================================================================
``topic``               source topic
``partition``           source partition
``offset``              source offset
``timestamp_ms``        Kafka record timestamp: exchange time, ms since the epoch (UTC)
``key``                 Kafka key as text: the symbol (the source for dead letters)
then (Parquet) / ``value`` (JSON)  the record's fields as in its ``.avsc``: strings stay exact decimal
                        text, ``long`` is int64, ``double`` float64, arrays are lists, nested records
                        structs, ``["null", T]`` a nullable T; ``bytes`` is binary (base64 text in JSON)
======================  ==========================================================================

Rows are written in merge order; JSON is compact with fields in schema order, so identical replays give
identical bytes. A Parquet file holds one record type; mixing topics of different schemas needs a split.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from processors.replay.errors import ReplayError
from processors.replay.merge import Replayed
from schemas.catalog import RecordSchema
from schemas.codec import to_datum

__all__ = ["FORMATS", "SPLITS", "Split", "envelope", "write_files"]

Split = Literal["none", "topic", "symbol"]
SPLITS: tuple[Split, ...] = ("none", "topic", "symbol")
FORMATS = ("jsonl", "parquet")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def envelope(record: Replayed) -> dict[str, Any]:
    """The row of one replayed record, without its value."""
    key = record.key
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key": None if key is None else key.decode("utf-8", "replace"),
    }


def _json_default(value: object) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_line(record: Replayed) -> bytes:
    """One compact JSON line (the value's bytes fields base64)."""
    row = envelope(record)
    row["value"] = to_datum(record.value)
    return (json.dumps(row, separators=(",", ":"), default=_json_default) + "\n").encode()


class _Writer(Protocol):
    def write(self, record: Replayed) -> None: ...

    def close(self) -> None: ...


class _JsonLines:
    def __init__(self, out: IO[bytes], owned: bool) -> None:
        self._out = out
        self._owned = owned

    def write(self, record: Replayed) -> None:
        self._out.write(json_line(record))

    def close(self) -> None:
        if self._owned:
            self._out.close()
        else:
            self._out.flush()


def _file_of(out: Path, split: Split, extension: str, record: Replayed) -> Path:
    if split == "none":
        return out
    topic = _UNSAFE.sub("_", record.topic)
    if split == "topic":
        return out / f"{topic}.{extension}"
    symbol = _UNSAFE.sub("_", record.key.decode("utf-8", "replace")) if record.key else "_nokey"
    return out / topic / f"{symbol}.{extension}"


def write_files(
    records: Iterable[Replayed],
    out: Path | Literal["-"],
    fmt: str,
    split: Split,
    schemas: Mapping[str, RecordSchema],
    on_record: Callable[[Replayed, int], None] | None = None,
) -> dict[str, int]:
    """Write ``records`` (in their order) and return the rows per file written.

    ``out`` is the file for ``split="none"`` (``"-"``: JSON Lines on stdout), else a directory.
    """
    if fmt not in FORMATS:
        raise ReplayError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if out == "-" and (fmt != "jsonl" or split != "none"):
        raise ReplayError("only unsplit JSON Lines can go to stdout")
    if fmt == "parquet" and split == "none" and len({s.name for s in schemas.values()}) > 1:
        raise ReplayError("a Parquet file holds one record type: split by topic (or symbol) to mix schemas")
    writers: dict[Path, _Writer] = {}
    counts: dict[str, int] = {}
    stdout = _JsonLines(sys.stdout.buffer, owned=False) if out == "-" else None
    count = 0
    try:
        for record in records:
            if stdout is not None:
                writer: _Writer = stdout
                name = "-"
            else:
                path = _file_of(Path(out), split, fmt, record)
                name = str(path)
                found = writers.get(path)
                if found is None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    found = writers[path] = _open(path, fmt, schemas[record.topic])
                writer = found
            writer.write(record)
            counts[name] = counts.get(name, 0) + 1
            count += 1
            if on_record is not None:
                on_record(record, count)
    finally:
        for opened in writers.values():
            opened.close()
        if stdout is not None:
            stdout.close()
    return counts


def _open(path: Path, fmt: str, schema: RecordSchema) -> _Writer:
    if fmt == "jsonl":
        return _JsonLines(path.open("wb"), owned=True)
    from processors.replay.parquet import ParquetWriter  # pyarrow is an optional extra

    return ParquetWriter(path, schema)
