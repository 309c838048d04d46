"""SplitMix64 hashing for the market model, of one value or of many at once. Pure.

Many at once: the values sit in 128-bit lanes of one big integer, so each operation of the finaliser is one
big-integer operation for all of them (a lane's 64 x 64-bit product fits its lane; masks drop what spills into
the upper half). From a few dozen values on that is about three times faster than one call per value, with the
same results; fewer values take the plain path.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence

__all__ = ["below", "mix64", "mix64_many"]

_MASK = (1 << 64) - 1
_LANE_BYTES = 16
_VECTOR_MIN = 24 if sys.byteorder == "little" else 1 << 62  # the lanes are built from native arrays


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a well-spread 64-bit hash of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _repeat(value: int, count: int) -> int:
    """``value`` (below ``2**128``) in each of ``count`` lanes."""
    return int.from_bytes(value.to_bytes(_LANE_BYTES, "little") * count, "little")


def _mixed_lanes(values: Sequence[int], xor: int) -> int:
    """``mix64(value ^ xor)`` of each value, in the low half of its lane (upper halves zero)."""
    count = len(values)
    lanes = array("Q", bytes(_LANE_BYTES * count))
    lanes[::2] = array("Q", values)
    mask = _repeat(_MASK, count)
    x = ((int.from_bytes(lanes, "little") ^ _repeat(xor, count)) + _repeat(0x9E3779B97F4A7C15, count)) & mask
    x = ((x ^ (x >> 30)) & mask) * 0xBF58476D1CE4E5B9 & mask
    x = ((x ^ (x >> 27)) & mask) * 0x94D049BB133111EB & mask
    return (x ^ (x >> 31)) & mask


def mix64_many(values: Sequence[int], xor: int = 0) -> list[int]:
    """``mix64(value ^ xor)`` of each value (all in ``[0, 2**64)``)."""
    if len(values) < _VECTOR_MIN:
        return [mix64(value ^ xor) for value in values]
    mixed = _mixed_lanes(values, xor)
    return memoryview(mixed.to_bytes(_LANE_BYTES * len(values), "little")).cast("Q")[::2].tolist()


def below(values: Sequence[int], xor: int, threshold: int) -> list[int]:
    """1 where ``mix64(value ^ xor) < threshold`` (``0 <= threshold <= 2**64``), else 0, for each value."""
    count = len(values)
    if count < _VECTOR_MIN:
        return [int(mix64(value ^ xor) < threshold) for value in values]
    # Each lane becomes 2**64 + threshold - 1 - hash: its upper half is 1 exactly when hash < threshold.
    difference = _repeat((1 << 64) + threshold - 1, count) - _mixed_lanes(values, xor)
    return memoryview(difference.to_bytes(_LANE_BYTES * count, "little")).cast("Q")[1::2].tolist()
