"""Exact decimal spellings of the fake's numbers, as the real wire spells them.

Prices live as integers of ``10**-decimals`` units inside the fake. The WebSocket spells them as plain decimal
strings with trailing zeros stripped (``"110212"``, ``"2749.7"``, ``"0.02157"``, the 2024+ wire). REST spells
numbers the way Java's ``Double.toString`` does (``78712.0``, ``3915961.5089``, ``1.36374895253E7``,
``2.0E-4``), which is what the 2025-2026 REST captures show.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["java_number", "plain_decimal", "scaled_decimal", "scaled_str"]


def scaled_str(units: int, decimals: int) -> str:
    """``units * 10**-decimals`` as a plain decimal string without trailing zeros (``12340, 2 -> "123.4"``)."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(decimals + 1, "0")
    whole, frac = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def scaled_decimal(units: int, decimals: int) -> Decimal:
    """``units * 10**-decimals`` as an exact :class:`~decimal.Decimal`."""
    return Decimal(units).scaleb(-decimals)


def plain_decimal(value: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros (``Decimal("21.50") -> "21.5"``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def java_number(value: Decimal | int) -> str:
    """The JSON number token Java's ``Double.toString`` would write for ``value``.

    Plain notation with at least one fractional digit for ``1e-3 <= |x| < 1e7``, else ``d.dddE<exp>``; the digits
    are the shortest that round-trip through a binary double, as on the real REST API.
    """
    as_float = float(value)
    if as_float == 0:
        return "0.0"
    shortest = Decimal(repr(as_float))
    if 1e-3 <= abs(as_float) < 1e7:
        text = format(shortest, "f")
        return text if "." in text else f"{text}.0"
    sign, digits, exponent = shortest.normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    fraction = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{exponent + len(mantissa) - 1}"
