"""The command line of the fake exchange."""

from __future__ import annotations

import pytest

from ops.fake_exchange import cli


def test_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--seed", "--symbols", "--speed", "--max-rate", "--record", "--playback"):
        assert option in out


def test_options_become_the_server_config() -> None:
    args = cli.build_parser().parse_args(
        ["--port", "0", "--seed", "5", "--symbols", "700", "--speed", "60", "--max-rate"]
    )
    config = cli.config_from_args(args)
    assert (config.port, config.seed, config.symbols, config.speed, config.max_rate) == (0, 5, 700, 60.0, True)


def test_symbol_count_out_of_range_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--symbols", "0"])
    assert info.value.code == 2
