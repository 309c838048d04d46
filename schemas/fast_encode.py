"""Avro binary encoding of flat records (``string``, ``long`` and ``array<string>`` fields), byte for byte what
fastavro writes, several times faster.

The raw market-data records are encoded tens of thousands of times per second and their decimals repeat from frame
to frame (a book is resent every 100 ms, most levels unchanged), so the encoding of each string (zigzag varint
length + UTF-8) is cached, and a record becomes one ``join``. The whole block of an array is cached too, by the
identity of its tuple: the frame parser hands out the very same tuples for a book side (or its prices) unchanged
since the last book of the symbol, and a tuple cannot change, so a hit is exact without looking at a string. Each
schema's encoder is one function written out for its fields (as :mod:`dataclasses` writes ``__init__``): a field
costs an attribute read and a cache lookup or a writer call, with no loop and no call through C per field.

A value the fast path does not take (another type, a long out of range, text that is not valid UTF-8) makes the
encoder return ``None``: the caller then encodes with fastavro, whose verdict on a schema-invalid value stands.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any

__all__ = [
    "DEFAULT_ARRAY_CACHE_SIZE",
    "DEFAULT_STRING_CACHE_SIZE",
    "EncodedStrings",
    "FlatEncoder",
    "Unencodable",
    "encode_long",
    "flat_encoder",
]

DEFAULT_STRING_CACHE_SIZE = 65_536
DEFAULT_ARRAY_CACHE_SIZE = 16_384
_VARINT_CACHE_SIZE = 4096
_MIN_LONG, _MAX_LONG = -(1 << 63), (1 << 63) - 1
_ONE_BYTE = tuple(bytes((n,)) for n in range(0x80))
_GROUP_PAIRS = tuple(bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14))
"""Two continued 7-bit groups of a varint, by the 14 bits they hold (low group first)."""
_FOUR_GROUPS, _POSITIVE_63 = 1 << 27, 1 << 62
"""Non-negative longs in ``[_FOUR_GROUPS, _POSITIVE_63)`` have zigzag values of 29 to 63 bits."""
_END_OF_ARRAY = _ONE_BYTE[0]
_STRING_ARRAY = "array<string>"


class Unencodable(Exception):
    """A value outside the fast path: fastavro encodes the record (or says why it cannot)."""


def encode_long(value: Any) -> bytes:
    """Zigzag varint, as Avro writes ``int`` and ``long``."""
    if type(value) is int and _FOUR_GROUPS <= value < _POSITIVE_63:
        # Timestamps and sequences (zigzag: value << 1): the low 28 bits as four continued 7-bit groups, two table
        # entries, and the rest (which changes slowly from record to record) from the cache.
        return _GROUP_PAIRS[value << 1 & 0x3FFF] + _GROUP_PAIRS[value >> 13 & 0x3FFF] + _VARINTS[value >> 27]
    if type(value) is not int or not _MIN_LONG <= value <= _MAX_LONG:
        raise Unencodable
    n = value << 1 if value >= 0 else ~value << 1 | 1
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 1 << 28:
        return _VARINTS[n]
    return _GROUP_PAIRS[n & 0x3FFF] + _GROUP_PAIRS[n >> 14 & 0x3FFF] + _VARINTS[n >> 28]


class _Varints(dict[int, bytes]):
    """Unsigned base-128 varints (low group first) by value, computed on a miss, emptied when full."""

    def __missing__(self, n: int) -> bytes:
        out = bytearray()
        rest = n
        while rest >= 0x80:
            out.append((rest & 0x7F) | 0x80)
            rest >>= 7
        out.append(rest)
        if len(self) >= _VARINT_CACHE_SIZE:
            self.clear()
        self[n] = encoded = bytes(out)
        return encoded


_VARINTS = _Varints()


class EncodedStrings(dict[str, bytes]):
    """Text -> its Avro encoding, filled on a miss, emptied when full (a bounded cache that keeps hits C-level)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def __missing__(self, text: Any) -> bytes:
        if type(text) is not str:
            raise Unencodable
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate
            raise Unencodable from None
        encoded = encode_long(len(data)) + data
        if len(self) >= self._limit:
            self.clear()
        self[text] = encoded
        return encoded


class FlatEncoder:
    """Encoder of one flat record schema: the record's attributes named like the schema's fields, in its order."""

    def __init__(
        self,
        field_names: tuple[str, ...],
        kinds: tuple[str, ...],
        header: bytes,
        cache_size: int,
        array_cache_size: int,
    ) -> None:
        self._strings = EncodedStrings(cache_size)
        self._arrays: dict[int, tuple[tuple[str, ...], bytes]] = {}  # id -> the tuple (kept alive) and its block
        self._array_cache_size = array_cache_size
        self._encode = _compile(field_names, kinds, header, self._strings, self._string_array)

    def __call__(self, record: Any) -> bytes | None:
        """The framed payload (header + Avro body), or None when fastavro must encode this record."""
        try:
            return self._encode(record)
        except (Unencodable, AttributeError, TypeError):  # TypeError: an unhashable value
            return None

    def _string_array(self, items: Any) -> bytes:
        known = self._arrays.get(id(items))
        if known is not None and known[0] is items:
            return known[1]
        if type(items) is not tuple:  # a list could change under the cache
            raise Unencodable
        # One block of all items then the empty block, as fastavro writes it (an empty array is the empty block).
        block = (
            encode_long(len(items)) + b"".join(map(self._strings.__getitem__, items)) + _END_OF_ARRAY
            if items
            else _END_OF_ARRAY
        )
        if len(self._arrays) >= self._array_cache_size:
            self._arrays.clear()
        self._arrays[id(items)] = items, block
        return block


def _compile(
    names: tuple[str, ...],
    kinds: tuple[str, ...],
    header: bytes,
    strings: EncodedStrings,
    string_array: Callable[[Any], bytes],
) -> Callable[[Any], bytes]:
    """``record -> header + its fields' encodings`` as one function written out for these fields."""
    namespace: dict[str, Any] = {
        "_join": b"".join,
        "_header": header,
        "_s": strings,
        "_l": encode_long,
        "_a": string_array,
    }
    templates = {"string": "_s[{}]", "long": "_l({})", _STRING_ARRAY: "_a({})"}
    values = [
        f"record.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"getattr(record, {name!r})"
        for name in names
    ]
    fields = ", ".join(templates[kind].format(value) for kind, value in zip(kinds, values, strict=True))
    exec(f"def encode(record):\n    return _join((_header, {fields}))\n", namespace)
    encode: Callable[[Any], bytes] = namespace["encode"]
    return encode


def flat_encoder(
    definition: dict[str, Any],
    header: bytes,
    cache_size: int = DEFAULT_STRING_CACHE_SIZE,
    array_cache_size: int = DEFAULT_ARRAY_CACHE_SIZE,
) -> FlatEncoder | None:
    """A :class:`FlatEncoder` for a record schema whose fields are all string, long or array of string, else None."""
    if definition.get("type") != "record":
        return None
    names, kinds = [], []
    for field in definition["fields"]:
        kind = _STRING_ARRAY if field["type"] == {"type": "array", "items": "string"} else field["type"]
        if kind not in ("string", "long", _STRING_ARRAY):
            return None
        names.append(field["name"])
        kinds.append(kind)
    return FlatEncoder(tuple(names), tuple(kinds), header, cache_size, array_cache_size)
