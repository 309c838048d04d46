"""Exact decimal arithmetic on the exchange's price and size text.

Exchange prices leave the processors exact, so they are never passed through ``float`` on their way out.
Everything here uses one private :class:`decimal.Context` that traps ``Inexact``: a result that would need
rounding raises instead of silently losing digits (100 digits is far beyond any exchange value). Hot paths
compare prices with cheap float keys and call :func:`pair_sum_greater` only when two keys are too close for
float rounding to decide.
"""

from __future__ import annotations

from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow

__all__ = ["MidCache", "add", "fixed", "greater", "mid", "pair_sum_greater", "parse"]

_CTX = Context(prec=100, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])
_TWO = Decimal(2)


def parse(text: str) -> Decimal:
    """Exchange text (``"88987.4"``, ``"2.0E-4"``) as an exact Decimal."""
    return Decimal(text)


def add(a: Decimal, b: Decimal) -> Decimal:
    """Exact sum; raises :class:`decimal.Inexact` rather than round."""
    return _CTX.add(a, b)


def fixed(value: Decimal) -> str:
    """Fixed-point text without exponent, so consumers need no scientific-notation parser."""
    return format(value, "f")


def mid(bid: str, ask: str) -> str:
    """(bid + ask) / 2 exactly, as fixed-point text (halving adds at most one digit, so it never rounds)."""
    return fixed(_CTX.divide(_CTX.add(Decimal(bid), Decimal(ask)), _TWO))


def greater(a: str, b: str) -> bool:
    """``a > b`` by decimal value (``"100.0"`` equals ``"100"``)."""
    return a != b and Decimal(a) > Decimal(b)


def pair_sum_greater(bid_a: str, ask_a: str, bid_b: str, ask_b: str) -> bool:
    """``bid_a + ask_a > bid_b + ask_b`` exactly: the tie-breaker when float mid keys are too close."""
    if bid_a == bid_b and ask_a == ask_b:
        return False
    return _CTX.add(Decimal(bid_a), Decimal(ask_a)) > _CTX.add(Decimal(bid_b), Decimal(ask_b))


class MidCache(dict[tuple[str, str], str]):
    """Memoised :func:`mid` of (bid, ask) text: quotes repeat, and a Decimal mid costs microseconds. Only a
    speed-up (results are :func:`mid`'s), bounded by clearing when full."""

    def __init__(self, limit: int = 100_000) -> None:
        super().__init__()
        self._limit = limit

    def __missing__(self, quote: tuple[str, str]) -> str:
        if len(self) >= self._limit:
            self.clear()
        value = self[quote] = mid(*quote)
        return value
