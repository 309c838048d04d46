"""The ``process`` command's surface: one sub-command per job, output overrides checked before anything starts."""

from __future__ import annotations

import pytest

from ops.cli import build_parser
from processors.jobs import JOB_NAMES, job
from schemas.catalog import topics_with_overrides


@pytest.mark.parametrize("name", JOB_NAMES)
def test_each_job_is_a_subcommand_with_exactly_once_by_default(name: str) -> None:
    args = build_parser().parse_args(["process", name])
    assert args.guarantee == "exactly_once"
    assert args.input == job(name).input.default_topic


def test_output_overrides_name_a_schema_of_the_job() -> None:
    defaults = job("imbalance").default_topics()
    assert topics_with_overrides(defaults, ["imbalance=x"], "--output")["imbalance"] == "x"
    with pytest.raises(ValueError, match="--output 'ticker_bar=x': expected SCHEMA=TOPIC"):
        topics_with_overrides(defaults, ["ticker_bar=x"], "--output")
    with pytest.raises(ValueError, match="SCHEMA=TOPIC"):
        topics_with_overrides(defaults, ["imbalance"], "--output")


def test_every_output_type_of_every_job_has_a_schema_and_a_default_topic() -> None:
    for name in JOB_NAMES:
        spec = job(name)
        assert {out.schema.name for out in spec.outputs.values()} == set(spec.default_topics())
    with pytest.raises(ValueError, match="unknown job"):
        job("nope")
