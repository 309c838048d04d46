"""Configuration rules of the windowing engine (its behaviour is tested through the processors)."""

from __future__ import annotations

import pytest

from processors.core import WindowSpec, default_grace_ms


def test_default_grace_is_two_intervals_capped_at_ten_seconds() -> None:
    assert [default_grace_ms(i) for i in (1_000, 5_000, 60_000, 300_000)] == [2_000, 10_000, 10_000, 10_000]


def test_spec_sorts_intervals_and_applies_explicit_grace() -> None:
    spec = WindowSpec((60_000, 1_000), {60_000: 0})
    assert spec.intervals_ms == (1_000, 60_000)
    assert (spec.grace_for(1_000), spec.grace_for(60_000)) == (2_000, 0)


@pytest.mark.parametrize(
    ("intervals", "grace", "message"),
    [
        ((), {}, "at least one"),
        ((1_000, 1_000), {}, "duplicate"),
        ((0,), {}, "positive"),
        ((1_000,), {5_000: 1}, "unknown"),
        ((1_000,), {1_000: -1}, "negative"),
    ],
)
def test_spec_rejects_bad_config(intervals: tuple[int, ...], grace: dict[int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WindowSpec(intervals, grace)
