"""``kucoin-kafka backfill`` argument handling: times, contradictions and unknown symbols, each a one-line error."""

from __future__ import annotations

import argparse

import pytest

from ops.cli import main
from ops.stack.local import Endpoints
from producers.klines.cli import parse_time
from tests.klines.test_kafka_e2e import START_MS, _cli, fake

BASE = ["backfill", "--symbols", "XBTUSDTM", "--brokers", "127.0.0.1:1", "--registry", "http://127.0.0.1:1"]


def test_times_are_iso_8601_or_epoch_milliseconds() -> None:
    assert parse_time("1790000000000") == 1_790_000_000_000
    assert parse_time("2026-09-21T14:13:20Z") == parse_time("2026-09-21T14:13:20") == 1_790_000_000_000
    assert parse_time("2026-09-21T16:13:20.5+02:00") == 1_790_000_000_500
    assert parse_time("2026-09-21") == 1_789_948_800_000
    with pytest.raises(argparse.ArgumentTypeError, match="neither ISO-8601 nor epoch"):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2026-09-02", "--end", "2026-09-01"], "--end must be after --start"),
        (["--start", "2026-09-01", "--end", "2026-09-02", "--follow"], "--follow continues up to now"),
    ],
)
def test_contradictory_arguments_fail_before_any_connection(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*BASE, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-g", "3"], "invalid choice: 3"),
        (["--start", "soon"], "neither ISO-8601 nor epoch"),
        (["--settle-delay", "-1"], "argument --settle-delay: must be zero or a positive"),
    ],
)
def test_bad_values_are_usage_errors(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*BASE, "--start", "2026-09-01", *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.integration
async def test_unknown_symbols_and_a_future_start_are_one_line_errors(services: Endpoints) -> None:
    async with fake() as fx:
        unknown = await _cli(fx, services, "--symbols", "XBTUSDTM,NOPEUSDTM,ZZZ*", "--start", str(START_MS - 3600_000))
        _, err = await unknown.communicate()
        assert unknown.returncode == 2
        assert "unknown or not open symbols: NOPEUSDTM, ZZZ*" in err.decode() and "Traceback" not in err.decode()
        future = await _cli(fx, services, "--symbols", "XBTUSDTM", "--start", str(START_MS + 3600_000))
        _, err = await future.communicate()
        assert future.returncode == 1
        assert "is after the exchange's now" in err.decode() and "Traceback" not in err.decode()
