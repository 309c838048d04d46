"""The schema check command against the real registry: registers, is idempotent, refuses incompatible changes."""

from __future__ import annotations

import pytest

from ops.cli import main
from ops.stack.local import Endpoints
from schemas.catalog import ALL_SCHEMAS, RecordSchema, by_name
from schemas.registry import SchemaCompatibilityError, ensure_registered, registry_client
from tests.support.kafka import unique_name

pytestmark = pytest.mark.integration


def _topic_args(prefix: str) -> list[str]:
    return [arg for s in ALL_SCHEMAS for arg in ("--topic", f"{s.name}={prefix}.{s.default_topic}")]


def test_check_registers_every_schema_then_reports_them_unchanged(
    services: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["schemas", "check", "--registry", services.schema_registry_url, *_topic_args(unique_name("check"))]
    assert main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.count("new subject (dry run)") == len(ALL_SCHEMAS)
    assert main(args) == 0
    assert capsys.readouterr().out.count("registered") == len(ALL_SCHEMAS)
    assert main(args) == 0
    assert capsys.readouterr().out.count("unchanged") == len(ALL_SCHEMAS)


def test_an_incompatible_change_fails_the_check_and_is_not_registered(services: Endpoints) -> None:
    client = registry_client(services.schema_registry_url)
    topic = unique_name("compat")
    ticker = by_name("ticker_v2")
    ensure_registered(client, ticker, topic)
    changed = RecordSchema(ticker.name, ticker.record_type, topic)
    retyped = [
        {**field, "type": "double"} if field["name"] == "best_bid_price" else field
        for field in ticker.definition["fields"]
    ]
    changed.__dict__["definition"] = {**ticker.definition, "fields": retyped}  # best_bid_price: string -> double
    with pytest.raises(SchemaCompatibilityError, match="not BACKWARD-compatible"):
        ensure_registered(client, changed, topic)
    assert len(client.get_versions(f"{topic}-value")) == 1
    assert client.get_compatibility(f"{topic}-value") == "BACKWARD"
