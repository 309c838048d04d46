"""Avro binary decoding of flat records (``string``, ``long`` and ``array<string>`` fields), a batch at a time:
exactly what fastavro reads, several times faster.

Replay reads hundreds of thousands of records of one writer schema per second, and fastavro's reader spends most
of that in Python calls per field and per array item. Here a batch is decoded column by column, each step one
C-level call over the whole batch:

1. The payloads, joined and decoded as Latin-1 (one character per byte), go through one regular expression per
   writer schema (its Confluent header included): ``findall`` returns every field of every record. A string
   matches by its exact length (the branch taken depends on the length byte before it); a varint is its bytes;
   an array of strings is its count byte and everything up to its end-of-array byte.
2. Each column of varints is padded to 10 bytes a value and turned into integers by a few big-integer operations
   over the whole column (SIMD within a register), then unpacked by :mod:`struct`.
3. Each column of string arrays is split at once: item text is limited to ``+`` .. ``~`` and item length bytes
   lie below it, so every non-text byte is a length byte; the split is then checked against those bytes, item by
   item, and against each record's count and extent.
4. Records are created without ``__init__`` (as :mod:`copy` does) and filled one field column at a time through
   their slot descriptors.

An array whose items region was decoded shortly before (a book side resent unchanged, a price ladder whose best
price has not moved) is not split again: each array field keeps a bounded cache of items region -> tuple, checked
against the record's count byte, and the records share that tuple.

A payload outside that path (another writer schema, text that is not ASCII, a string over 63 bytes, an array item
over 21 bytes or with other characters, an empty item, a multi-block array, a varint over 64 bits, trailing bytes)
makes the decoder return ``None`` for its batch: the caller decodes those payloads with fastavro, whose result
or error stands.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import struct
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, islice, repeat
from typing import Any, cast

__all__ = ["DEFAULT_ARRAY_CACHE_SIZE", "FlatDecoder", "flat_decoder"]

DEFAULT_ARRAY_CACHE_SIZE = 1024
"""Arrays cached per array field (a 50-level book side with its region takes about 4 KB)."""

_STRING_ARRAY = {"type": "array", "items": "string"}
_MAX_STRING = 63
"""Longest string whose length is a one-byte varint."""
_MAX_ITEM = 21
"""Longest array item whose length byte (twice the length) lies below the item text."""
_ITEM_TEXT = bytes(range(ord("+"), ord("~") + 1))
_RECORD_MARK = "\x01"
"""Joins the items regions of a column: neither item text nor a length byte (odd: a negative length)."""
_LENGTH_BYTES_TO_SPACE = bytes(b if b in _ITEM_TEXT else ord(" ") for b in range(256))
_LENGTH_BYTE_OF = bytes(ord(_RECORD_MARK) if n == 0 else 2 * n if n <= _MAX_ITEM else ord("0") for n in range(256))
"""Piece length -> the byte before the piece: a length byte, or the record mark before an empty piece; a length
outside the fast path maps to item text, which no byte before a piece is."""
_ITEM_COUNT = {"": 0} | {chr(2 * n): n for n in range(1, _MAX_STRING + 1)}
"""Count character (empty for an empty array) -> item count; a multi-byte or negative count is absent."""
_NEGATE_ODD = 0xFFFF_FFFF_FFFF_FFFF
_MAX_VARINTS = 4096
"""Varints decoded together at most: bounds the cached masks (10 of 40 KB for a full block)."""
_consume: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend
_ONE_MORE = (1).__add__

_STRING = (
    "[\\x00-\\x7e]("
    + "|".join(f"(?<={re.escape(chr(2 * n))})[\\x00-\\x7f]{{{n}}}" for n in range(_MAX_STRING + 1))
    + ")"
)
_LONG = "([\\x80-\\xff]*+[\\x00-\\x7f])"
_ARRAY = "([^\\x00]?)([^\\x00]*+)\\x00"
_PATTERNS = {"string": _STRING, "long": _LONG, "array": _ARRAY}


class _Unusual(Exception):
    """A batch outside the fast path."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """Masks and unpacker of ``count`` varints padded to 10 bytes (80-bit slots, least significant first)."""

    even_groups: int
    odd_groups: int
    pairs_kept: int
    pairs_moved: int
    low_quad: int
    high_quad: int
    top_group: int
    over_64_bits: int
    magnitude: int
    sign: int
    unpack: Callable[[bytes], tuple[int, ...]]


@functools.lru_cache(maxsize=16)
def _layout(count: int) -> _Layout:
    def every_slot(*bit_ranges: tuple[int, int]) -> int:
        slot = sum(((1 << (stop - start)) - 1) << start for start, stop in bit_ranges)
        return int.from_bytes(slot.to_bytes(10, "little") * count, "little")

    return _Layout(
        even_groups=every_slot(*((16 * i, 16 * i + 7) for i in range(5))),
        odd_groups=every_slot(*((16 * i + 8, 16 * i + 15) for i in range(5))),
        pairs_kept=every_slot((0, 14), (32, 46), (64, 78)),
        pairs_moved=every_slot((16, 30), (48, 62)),
        low_quad=every_slot((0, 28)),
        high_quad=every_slot((32, 60)),
        top_group=every_slot((64, 78)),
        over_64_bits=every_slot((64, 80)),
        magnitude=every_slot((0, 63)),
        sign=every_slot((0, 1)),
        unpack=struct.Struct("<" + "qxx" * count).unpack,
    )


def _longs(varints: Sequence[str]) -> tuple[int, ...]:
    """The values of a column of zigzag varints (each its bytes as Latin-1 text)."""
    count = len(varints)
    if count > _MAX_VARINTS:
        return _longs(varints[:_MAX_VARINTS]) + _longs(varints[_MAX_VARINTS:])
    data = "".join(map(str.ljust, varints, repeat(10), repeat("\0"))).encode("latin-1")
    if len(data) != 10 * count:
        raise _Unusual  # a varint over 10 bytes
    lay = _layout(count)
    x = int.from_bytes(data, "little")
    x = (x & lay.even_groups) | ((x & lay.odd_groups) >> 1)  # 7-bit groups -> 14-bit pairs, 16 bits apart
    x = (x & lay.pairs_kept) | ((x & lay.pairs_moved) >> 2)  # -> 28-bit quads at 0 and 32, a pair at 64
    x = (x & lay.low_quad) | ((x & lay.high_quad) >> 4) | ((x & lay.top_group) >> 8)  # -> one 70-bit value
    if x & lay.over_64_bits:
        raise _Unusual  # fastavro's reader would wrap it
    return lay.unpack((((x >> 1) & lay.magnitude) ^ ((x & lay.sign) * _NEGATE_ODD)).to_bytes(10 * count, "little"))


def _cached_string_arrays(
    counts: Sequence[str], regions: Sequence[str], known: dict[str, tuple[str, ...]], limit: int
) -> list[tuple[str, ...]]:
    """:func:`_string_arrays`, with the arrays of regions in ``known`` (the regions decoded before) taken from it."""
    arrays: list[tuple[str, ...] | None] = list(map(known.get, regions))
    missing = [index for index, array in enumerate(arrays) if array is None]
    if missing:
        decoded = _string_arrays([counts[index] for index in missing], [regions[index] for index in missing])
        if len(known) + len(missing) > limit:
            known.clear()
        for index, array in zip(missing, decoded, strict=True):
            arrays[index] = known.setdefault(regions[index], array)  # one tuple for a region repeated in the batch
    found = cast("list[tuple[str, ...]]", arrays)
    if list(map(len, found)) != list(map(_ITEM_COUNT.get, counts)):
        raise _Unusual  # a region seen before, now with another count byte
    return found


def _string_arrays(counts: Sequence[str], regions: Sequence[str]) -> list[tuple[str, ...]]:
    """The arrays of a column, from each record's count character and items region (Latin-1 text)."""
    try:
        sizes = list(map(_ITEM_COUNT.__getitem__, counts))
    except KeyError:
        raise _Unusual from None
    # Regions joined by a byte that is neither item text nor a length byte: split, each record's items follow an
    # empty piece (the text before the first length byte, then the text between that byte and the next region).
    data = _RECORD_MARK.join(regions).encode("latin-1")
    pieces = data.translate(_LENGTH_BYTES_TO_SPACE).decode("ascii").split(" ")
    try:
        lengths = bytes(map(len, pieces))
    except ValueError:  # an item over 255 bytes
        raise _Unusual from None
    separators = data.translate(None, _ITEM_TEXT)  # the length bytes and record marks, in order
    if lengths[1:].translate(_LENGTH_BYTE_OF) != separators:
        raise _Unusual  # a length byte disagrees with the item after it
    starts = list(accumulate(map(_ONE_MORE, sizes), initial=0))
    if (
        starts.pop() != len(pieces)
        or separators.count(ord(_RECORD_MARK)) != len(regions) - 1
        or any(map(lengths.__getitem__, starts))
    ):
        raise _Unusual  # the items are not the records' counts, region by region
    firsts = map(_ONE_MORE, starts)  # a record's first item follows its empty piece
    ends = [*starts[1:], len(pieces)]
    return list(map(tuple, map(pieces.__getitem__, map(slice, firsts, ends))))


class FlatDecoder:
    """Decoder of payloads framed with ``header`` into ``record_type``, whose slots are the schema's fields in order."""

    def __init__(
        self,
        header: bytes,
        kinds: Sequence[str],
        record_type: type,
        names: Sequence[str],
        array_cache_size: int = DEFAULT_ARRAY_CACHE_SIZE,
    ) -> None:
        pattern = ["(", re.escape(header.decode("latin-1"))]  # group 0: the whole record
        self._fields: list[tuple[str, int]] = []  # per field: its kind and its first group
        group = 1
        for kind in kinds:
            self._fields.append((kind, group))
            pattern.append(_PATTERNS[kind])
            group += 2 if kind == "array" else 1
        self._pattern = re.compile("".join(pattern) + ")")
        self._long_groups = [group for kind, group in self._fields if kind == "long"]
        self._arrays: dict[int, dict[str, tuple[str, ...]]] = {at: {} for kind, at in self._fields if kind == "array"}
        self._array_cache_size = array_cache_size
        self._record_type = record_type
        self._setters = tuple(getattr(record_type, name).__set__ for name in names)

    def __call__(self, payloads: Sequence[bytes]) -> list[Any] | None:
        """The records of ``payloads``, or None when one of them is outside the fast path."""
        rows = self._pattern.findall(b"".join(payloads).decode("latin-1"))
        count = len(payloads)
        if len(rows) != count or not rows:
            return None if rows or payloads else []
        groups = list(zip(*rows, strict=True))
        if list(map(len, groups[0])) != list(map(len, payloads)):
            return None  # a match is not a whole payload (trailing bytes)
        try:
            longs = iter(_longs(list(chain.from_iterable(map(groups.__getitem__, self._long_groups)))))
            columns = [
                groups[at]
                if kind == "string"
                else _cached_string_arrays(groups[at], groups[at + 1], self._arrays[at], self._array_cache_size)
                if kind == "array"
                else tuple(islice(longs, count))
                for kind, at in self._fields
            ]
        except _Unusual:
            return None
        records: list[Any] = list(map(object.__new__, repeat(self._record_type, count)))
        for setter, column in zip(self._setters, columns, strict=True):
            _consume(map(setter, records, column))
        return records


def flat_decoder(
    definition: dict[str, Any], header: bytes, record_type: type, array_cache_size: int = DEFAULT_ARRAY_CACHE_SIZE
) -> FlatDecoder | None:
    """A :class:`FlatDecoder` for a record schema of string, long and array-of-string fields whose record type is a
    slotted dataclass with exactly those fields in that order; else None."""
    if definition.get("type") != "record" or not dataclasses.is_dataclass(record_type):
        return None
    names = [field["name"] for field in definition["fields"]]
    kinds = [
        "array" if field["type"] == _STRING_ARRAY else field["type"]
        for field in definition["fields"]
        if field["type"] in ("string", "long") or field["type"] == _STRING_ARRAY
    ]
    if len(kinds) != len(names) or getattr(record_type, "__slots__", None) != tuple(names):
        return None
    if hasattr(record_type, "__post_init__"):
        return None
    return FlatDecoder(header, kinds, record_type, names, array_cache_size)
