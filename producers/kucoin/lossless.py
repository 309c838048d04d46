"""Lossless JSON for exchange payloads: decimals stay the exact text the exchange sent.

Fractional JSON numbers are kept as their token text (``31528.00000000``, ``1.36374895253E7``) and integers
stay Python ints (exact at any size, ``str()`` gives the token back), so nothing ever passes through binary
float.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["decimal_text", "loads"]

_DECODER = json.JSONDecoder(parse_float=str)
_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_CHECKED: set[str] = set()
"""Non-negative decimal strings already checked (prices repeat from frame to frame; a set hit beats the regex)."""
_CHECKED_LIMIT = 65_536


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode one JSON document; raises ``ValueError`` (incl. ``UnicodeDecodeError``) on bad input."""
    text = data if isinstance(data, str) else bytes(data).decode()
    return _DECODER.decode(text)


def decimal_text(value: object, *, signed: bool = False) -> str:
    """Return the exact decimal text of a JSON number token or decimal string, or raise ``ValueError``.

    Strings must look like a JSON number (no ``nan``, ``inf``, ``_`` or spaces, which ``float()`` would
    accept); negative values are refused unless ``signed`` (prices and sizes never are, multipliers can be).
    """
    if type(value) is str and value in _CHECKED:
        return value
    if type(value) is int:
        text = str(value)
    elif type(value) is str and _DECIMAL.fullmatch(value):
        text = value
    else:
        raise ValueError(f"not a decimal: {value!r}")
    if text[0] == "-":
        if not signed:
            raise ValueError(f"negative decimal: {value!r}")
    elif text is value:
        if len(_CHECKED) >= _CHECKED_LIMIT:
            _CHECKED.clear()
        _CHECKED.add(text)
    return text
