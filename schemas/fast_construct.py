"""Cheap construction of frozen slotted records, for the hot paths that create them by the million (parsed frames,
derived imbalance); :mod:`.fast_decode` fills whole batches column by column instead."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["builder"]

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """``cls(...)`` (every field given) for a frozen slotted dataclass, at a fraction of the cost: hot paths create
    records by the million. The values go into a twin class with the same slots by plain attribute stores (not the
    frozen ``__setattr__`` that ``cls.__init__`` goes through), and the twin object then becomes a ``cls`` by
    ``__class__`` assignment, which Python allows between classes of identical layout: an ordinary ``cls``, equal
    to ``cls(...)``."""
    fields = dataclasses.fields(cast(Any, cls))
    names: tuple[str, ...] = getattr(cls, "__slots__", ())
    if names != tuple(field.name for field in fields) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass without __post_init__")
    source = f"def __init__(self, {', '.join(names)}):\n"
    source += "".join(f"    self.{name} = {name}\n" for name in names) + "    self.__class__ = record_type\n"
    namespace: dict[str, Any] = {"record_type": cls}
    exec(source, namespace)  # as dataclasses builds __init__: a function of the field names
    twin: Callable[..., T] = type(f"{cls.__name__}Builder", (), {"__slots__": names, "__init__": namespace["__init__"]})
    return twin
