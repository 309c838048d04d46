"""argparse value types shared by the commands: a duration, a rate or a count of hours that cannot make sense is
a usage error naming the value, before anything starts."""

from __future__ import annotations

import argparse
import math

__all__ = ["non_negative_number", "positive_number"]


def positive_number(text: str) -> float:
    """A positive, finite number (seconds, a speed)."""
    return _number(text, zero_allowed=False)


def non_negative_number(text: str) -> float:
    """Zero or a positive, finite number (a delay or a timeout that may be none at all)."""
    return _number(text, zero_allowed=True)


def _number(text: str, zero_allowed: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        kind = "zero or a positive" if zero_allowed else "a positive"
        raise argparse.ArgumentTypeError(f"must be {kind}, finite number: {text}")
    return value
