"""Every duration, rate or count of hours a command takes is checked before anything starts."""

from __future__ import annotations

import argparse

import pytest

from ops.arguments import non_negative_number, positive_number
from ops.cli import build_parser
from ops.fake_exchange.cli import build_parser as build_fake_exchange_parser

_BACKFILL = ["backfill", "--symbols", "XBTUSDTM", "--start", "2026-11-01"]
POSITIVE = [
    (["process", "imbalance"], "--commit-interval"),
    (["process", "imbalance"], "--session-timeout"),
    (["process", "imbalance"], "--checkpoint-timeout"),
    (["produce"], "--refresh-interval"),
    (_BACKFILL, "--max-wait"),
    (["fake-exchange"], "--speed"),
    (["fake-exchange"], "--idle-timeout"),
    (["run"], "--duration"),
]
NON_NEGATIVE = [(["produce"], "--flush-timeout"), (_BACKFILL, "--settle-delay"), (["run"], "--backfill-hours")]


def _parsed(command: list[str], option: str, value: str) -> float:
    """The option's parsed value (the fake exchange has its own parser behind ``kucoin-kafka fake-exchange``)."""
    if command == ["fake-exchange"]:
        args = build_fake_exchange_parser().parse_args([option, value])
    else:
        args = build_parser().parse_args([*command, option, value])
    parsed: float = vars(args)[option[2:].replace("-", "_")]
    return parsed


def test_numbers_are_positive_or_non_negative_and_finite() -> None:
    assert positive_number("0.25") == 0.25
    assert non_negative_number("0") == 0.0
    for bad in ["0", "-1", "nan", "inf", "-inf", "soon", ""]:
        with pytest.raises(argparse.ArgumentTypeError):
            positive_number(bad)
    for bad in ["-0.5", "nan", "inf", "soon"]:
        with pytest.raises(argparse.ArgumentTypeError):
            non_negative_number(bad)


@pytest.mark.parametrize(("command", "option"), POSITIVE + NON_NEGATIVE)
@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_a_bad_value_is_a_usage_error_naming_the_option(
    command: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _parsed(command, option, value)
    assert exited.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err
    assert _parsed(command, option, "2.5") == 2.5


@pytest.mark.parametrize(("command", "option"), POSITIVE)
def test_zero_is_refused_where_it_cannot_work(command: list[str], option: str) -> None:
    with pytest.raises(SystemExit):
        _parsed(command, option, "0")


@pytest.mark.parametrize(("command", "option"), NON_NEGATIVE)
def test_zero_means_none_where_it_can(command: list[str], option: str) -> None:
    assert _parsed(command, option, "0") == 0.0
