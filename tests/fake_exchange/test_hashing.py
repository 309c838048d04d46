"""The batched SplitMix64 paths give exactly what one call per value gives."""

from __future__ import annotations

import random

import pytest

from ops.fake_exchange.hashing import below, mix64, mix64_many

MAX = (1 << 64) - 1


@pytest.mark.parametrize("count", [0, 1, 23, 24, 25, 1000])
def test_mix64_many_equals_mix64(count: int) -> None:
    rng = random.Random(count)
    values = [0, MAX, *(rng.getrandbits(64) for _ in range(count))][:count]
    xor = rng.getrandbits(64)
    assert mix64_many(values, xor) == [mix64(v ^ xor) for v in values]
    assert mix64_many(range(10**9, 10**9 + count)) == [mix64(v) for v in range(10**9, 10**9 + count)]


@pytest.mark.parametrize("threshold", [0, 1, 1 << 63, random.Random(1).getrandbits(64), MAX, 1 << 64])
@pytest.mark.parametrize("count", [5, 500])
def test_below_equals_comparing_each_hash(threshold: int, count: int) -> None:
    values = range(7 * count, 8 * count)
    assert below(values, 12345, threshold) == [int(mix64(v ^ 12345) < threshold) for v in values]


def test_below_is_exact_at_the_threshold() -> None:
    values = list(range(100))
    hashes = mix64_many(values)
    for pick in hashes[:5]:
        assert below(values, 0, pick) == [int(h < pick) for h in hashes]
        assert below(values, 0, pick + 1) == [int(h <= pick) for h in hashes]
