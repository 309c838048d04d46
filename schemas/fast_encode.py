"""Avro binary encoding of flat records (``string``, ``long`` and ``array<string>`` fields), byte for byte what
fastavro writes, several times faster.

The raw market-data records are encoded tens of thousands of times per second and their decimals repeat from frame
to frame (a book is resent every 100 ms, most levels unchanged), so the encoding of each string (zigzag varint
length + UTF-8) is cached, and a record becomes one ``join``. The whole block of an array is cached too, by the
identity of its tuple: the frame parser hands out the very same tuples for a book side (or its prices) unchanged
since the last book of the symbol, and a tuple cannot change, so a hit is exact without looking at a string.

A value the fast path does not take (another type, a long out of range, text that is not valid UTF-8) makes the
encoder return ``None``: the caller then encodes with fastavro, whose verdict on a schema-invalid value stands.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_ARRAY_CACHE_SIZE", "DEFAULT_STRING_CACHE_SIZE", "FlatEncoder", "flat_encoder"]

DEFAULT_STRING_CACHE_SIZE = 65_536
DEFAULT_ARRAY_CACHE_SIZE = 16_384
_VARINT_CACHE_SIZE = 4096
_MIN_LONG, _MAX_LONG = -(1 << 63), (1 << 63) - 1
_ONE_BYTE = tuple(bytes((n,)) for n in range(0x80))
_END_OF_ARRAY = _ONE_BYTE[0]
_STRING_ARRAY = "array<string>"

_Writer = Callable[[Any], bytes]


class _Unusual(Exception):
    """A value outside the fast path: fastavro encodes the record (or says why it cannot)."""


def _long(value: Any) -> bytes:
    """Zigzag varint, as Avro writes ``int`` and ``long``."""
    if type(value) is not int or not _MIN_LONG <= value <= _MAX_LONG:
        raise _Unusual
    n = value << 1 if value >= 0 else ~value << 1 | 1
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 1 << 28:
        return _VARINTS[n]
    # Timestamps and sequences: the low 28 bits as four continued 7-bit groups (computed on a small int), the rest
    # (which changes slowly from record to record) from the cache; half the time of a loop over nine groups.
    low = n & 0xFFFFFFF
    low = (low & 0x7F) | (low << 1 & 0x7F00) | (low << 2 & 0x7F0000) | (low << 3 & 0x7F000000) | 0x80808080
    return low.to_bytes(4, "little") + _VARINTS[n >> 28]


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


class _EncodedStrings(dict[str, bytes]):
    """Text -> its Avro encoding, filled on a miss, emptied when full (a bounded cache that keeps hits C-level)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def __missing__(self, text: Any) -> bytes:
        if type(text) is not str:
            raise _Unusual
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate
            raise _Unusual from None
        encoded = _long(len(data)) + data
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
        self._header = header
        self._values: Callable[[Any], Any] = operator.attrgetter(*field_names)
        self._strings = _EncodedStrings(cache_size)
        self._arrays: dict[int, tuple[tuple[str, ...], bytes]] = {}  # id -> the tuple (kept alive) and its block
        self._array_cache_size = array_cache_size
        writers: dict[str, _Writer] = {
            "string": self._strings.__getitem__,
            "long": _long,
            _STRING_ARRAY: self._string_array,
        }
        self._writers = tuple(writers[kind] for kind in kinds)

    def __call__(self, record: Any) -> bytes | None:
        """The framed payload (header + Avro body), or None when fastavro must encode this record."""
        try:
            return self._header + b"".join(map(operator.call, self._writers, self._values(record)))
        except (_Unusual, AttributeError, TypeError):  # TypeError: an unhashable value
            return None

    def _string_array(self, items: Any) -> bytes:
        known = self._arrays.get(id(items))
        if known is None or known[0] is not items:
            if type(items) is not tuple:  # a list could change under the cache
                raise _Unusual
            # One block of all items then the empty block, as fastavro writes it (an empty array is the empty block).
            block = b"".join((_long(len(items)), *map(self._strings.__getitem__, items))) if items else b""
            known = items, block + _END_OF_ARRAY
            if len(self._arrays) >= self._array_cache_size:
                self._arrays.clear()
            self._arrays[id(items)] = known
        return known[1]


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
    if len(names) < 2:  # attrgetter of one name returns the bare value, not a tuple: not worth a special case
        return None
    return FlatEncoder(tuple(names), tuple(kinds), header, cache_size, array_cache_size)
