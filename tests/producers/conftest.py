"""Real KuCoin payloads from the shared captures folder beside the repository (never copied into it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared/kucoin/captures"
MISSING = "../shared/kucoin/captures not found: real-payload tests need the shared captures beside the repo"


@dataclass(frozen=True)
class Capture:
    """One capture line: the payload's raw text exactly as recorded, and its decoded forms."""

    file: str
    line: int
    raw: str
    note: str

    @property
    def payload(self) -> Any:
        """Decoded with every number as its token text: the oracle for exact round-trips."""
        return json.loads(self.raw, parse_float=str, parse_int=str)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def load_captures(name: str) -> list[Capture]:
    """Every payload of one capture file, or skip the test when the folder is absent."""
    if not CAPTURES.is_dir():
        pytest.skip(MISSING)
    captures = []
    for number, line in enumerate((CAPTURES / name).read_text().splitlines(), start=1):
        start = line.index(',"payload":') + len(',"payload":')
        raw = line[start : line.rindex("}")]
        assert json.loads(raw) == json.loads(line)["payload"]
        captures.append(Capture(name, number, raw, json.loads(line).get("note", "")))
    return captures
