"""Contracts from ``GET /api/v1/contracts/active`` and the choice of symbols to stream."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .exceptions import ResponseFormatError, UnknownSymbolError
from .lossless import decimal_text

__all__ = ["ALL", "OPEN", "Contract", "parse_contracts", "select_symbols"]

ALL = "all"
OPEN = "Open"
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Contract:
    """The contract fields the producers need; decimals are exact text (multiplier -1: inverse)."""

    symbol: str
    status: str
    tick_size: str
    lot_size: str
    multiplier: str
    is_inverse: bool
    type: str | None


def parse_contracts(data: Any) -> tuple[Contract, ...]:
    """Parse the ``data`` of contracts/active (a list; one object is accepted as a list of one)."""
    items = [data] if type(data) is dict else data
    if type(items) is not list:
        raise ResponseFormatError("contracts data is neither a list nor an object")
    try:
        return tuple(_contract(item) for item in items)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseFormatError(f"bad contract entry: {exc}") from exc


def _contract(item: Any) -> Contract:
    symbol, status, is_inverse, kind = item["symbol"], item["status"], item["isInverse"], item.get("type")
    if type(symbol) is not str or type(status) is not str or type(is_inverse) is not bool:
        raise ValueError(f"symbol/status/isInverse of {symbol!r} have the wrong type")
    return Contract(
        symbol=symbol,
        status=status,
        tick_size=decimal_text(item["tickSize"]),
        lot_size=decimal_text(item["lotSize"]),
        multiplier=decimal_text(item["multiplier"], signed=True),
        is_inverse=is_inverse,
        type=kind if type(kind) is str and kind else None,
    )


def select_symbols(contracts: Iterable[Contract], selection: Sequence[str]) -> tuple[str, ...]:
    """Resolve a symbol selection against the open contracts, sorted and without duplicates.

    Each entry is ``all``, an exact symbol or an ``fnmatch`` glob (``*USDTM``). An exact symbol that is not
    open, or a glob matching nothing, is an error naming every such entry: a typo must not silently stream
    nothing.
    """
    contract_list = list(contracts)
    open_symbols = sorted(c.symbol for c in contract_list if c.status == OPEN)
    chosen: set[str] = set()
    unknown: list[str] = []
    for entry in selection:
        if entry == ALL:
            matches = open_symbols
        elif _GLOB_CHARS.intersection(entry):
            matches = [name for name in open_symbols if fnmatch.fnmatchcase(name, entry)]
        else:
            matches = [entry] if entry in open_symbols else []
        if not matches:
            unknown.append(entry)
        chosen.update(matches)
    if unknown:
        statuses = {c.symbol: c.status for c in contract_list}
        closed = [f"{name} is {statuses[name]}" for name in unknown if name in statuses]
        raise UnknownSymbolError(unknown, f" ({'; '.join(closed)})" if closed else "")
    return tuple(sorted(chosen))
