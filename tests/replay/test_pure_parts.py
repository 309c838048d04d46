"""Time parsing, pacing, resume positions, verify's comparison: pure parts of replay."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from processors.replay import Pacing, StateFileError, TimeRange, compare, format_ms, parse_time
from processors.replay.errors import InvalidRangeError
from processors.replay.position import PositionFile
from schemas.derived import TickerBar


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1731665520250", 1_731_665_520_250),
        ("2024-11-15T10:12:00.250Z", 1_731_665_520_250),
        ("2024-11-15T10:12:00.250", 1_731_665_520_250),
        ("2024-11-15T18:12:00.250+08:00", 1_731_665_520_250),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_times_parse_to_epoch_ms(text: str, ms: int) -> None:
    assert parse_time(text) == ms


def test_format_round_trips() -> None:
    assert format_ms(1_731_665_520_250) == "2024-11-15T10:12:00.250Z"
    assert parse_time(format_ms(1_731_665_520_250)) == 1_731_665_520_250


@pytest.mark.parametrize(("start", "end"), [("5", "5"), ("6", "5")])
def test_empty_and_inverted_ranges_are_refused(start: str, end: str) -> None:
    with pytest.raises(InvalidRangeError):
        TimeRange.parse(start, end)


def test_pacing_schedules_relative_to_the_first_record() -> None:
    assert Pacing.parse("10x").due(100.0, 5_000, 7_000) == pytest.approx(100.2)
    assert Pacing.parse("1").due(100.0, 5_000, 7_000) == pytest.approx(102.0)
    assert Pacing.parse("max").due(100.0, 5_000, 7_000) == 100.0
    with pytest.raises(ValueError, match="speed"):
        Pacing.parse("fast")
    with pytest.raises(ValueError, match="positive"):
        Pacing(0.0)


def test_position_file_resumes_only_its_own_request(tmp_path: Path) -> None:
    path = tmp_path / "state" / "position.json"
    mine = PositionFile(path, {"topics": ["a"], "range": [1, 2]})
    assert mine.load() is None
    mine.save((10, 0, 1, 42), 7)
    assert mine.load() == ((10, 0, 1, 42), 7)
    with pytest.raises(StateFileError, match="another replay"):
        PositionFile(path, {"topics": ["b"], "range": [1, 2]}).load()


def _bar(start: int, close: str = "10.5") -> TickerBar:
    return TickerBar(
        "XBTUSDTM", 1_000, start, start + 1_000, "10", "11", "9", close, "10", "11", 1.0, 1.0, 3, 1, 3, 5, 9
    )


def test_compare_pairs_changes_and_reports_one_sided_records() -> None:
    replayed = [_bar(0), _bar(1_000), _bar(2_000)]
    live = [_bar(0), _bar(1_000, close="99"), _bar(3_000)]
    differences = compare(replayed, live)
    assert [(d.kind, d.fields) for d in differences] == [
        ("changed", ("close_mid",)),
        ("missing", ()),
        ("unexpected", ()),
    ]
    assert "close_mid: replayed '10.5' != live '99'" in str(differences[0])
    assert compare(replayed, list(reversed(replayed))) == []
    assert [d.kind for d in compare([_bar(0), _bar(0)], [_bar(0)])] == ["missing"]  # duplicates count
    assert dataclasses.replace(_bar(0)) == _bar(0)
