"""The fast constructor of the derived records makes the very objects their ``__init__`` makes."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass
from typing import Any

import pytest

from schemas import derived
from schemas.derived import DepthImbalance, Imbalance, Stats
from schemas.fast_construct import builder

SNAPSHOT = (
    "XBTUSDTM",
    7,
    1731680249700,
    "1",
    None,
    "1.5",
    1.4,
    None,
    (DepthImbalance(1, 0.5, None),),
)


@pytest.mark.parametrize("cls", [getattr(derived, name) for name in derived.__all__ if name[0].isupper()])
def test_built_records_equal_constructed_ones(cls: Any) -> None:
    values = tuple(range(len(dataclasses.fields(cls))))
    built: Any = builder(cls)(*values)
    assert type(built) is cls
    assert built == cls(*values) and hash(built) == hash(cls(*values))
    assert dataclasses.astuple(built) == values


def test_built_records_stay_frozen_and_behave_as_records() -> None:
    built = builder(Imbalance)(*SNAPSHOT)
    assert built == Imbalance(*SNAPSHOT)
    assert repr(built) == repr(Imbalance(*SNAPSHOT))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.symbol = "ETHUSDTM"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(built)) == built
    assert copy.deepcopy(built) == built
    assert dataclasses.replace(built, sequence=8).sequence == 8


def test_keywords_and_arity_as_in_init() -> None:
    make = builder(Stats)
    assert make(count=1, mean=None, last=2.0, min=1.0, max=3.0) == Stats(1, None, 2.0, 1.0, 3.0)
    with pytest.raises(TypeError):
        make(1, None, 2.0, 1.0)


@dataclass(frozen=True, slots=True)
class _WithPostInit:
    a: int

    def __post_init__(self) -> None:
        pass


@dataclass(frozen=True)
class _NotSlotted:
    a: int


@pytest.mark.parametrize("cls", [_WithPostInit, _NotSlotted])
def test_only_plain_slotted_dataclasses(cls: Any) -> None:
    with pytest.raises(TypeError):
        builder(cls)
