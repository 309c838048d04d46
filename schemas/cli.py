"""``kucoin-kafka schemas check|list``: validate and register every schema against a registry."""

from __future__ import annotations

import argparse

from ops.config import Settings
from ops.stack.local import LocalStack
from schemas.catalog import ALL_SCHEMAS, topics_with_overrides
from schemas.registry import SchemaCompatibilityError, ensure_registered, lint_schema, registry_client

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``schemas`` command."""
    schemas = commands.add_parser(
        "schemas",
        help="check and register the Avro schemas (BACKWARD compatibility)",
        description="Lint every .avsc in schemas/, then register each under <topic>-value at BACKWARD "
        "compatibility. An incompatible change fails with exit code 1 and registers nothing for that subject.",
    )
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="lint, test compatibility and register (or --dry-run)")
    check.add_argument("--registry", help="registry base URL (default: SCHEMA_REGISTRY_URL or the local stack)")
    check.add_argument("--dry-run", action="store_true", help="only lint and test compatibility; register nothing")
    check.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="SCHEMA=TOPIC",
        help="topic of a schema, if not its default (repeatable), e.g. ticker_v2=my.tickers",
    )
    check.set_defaults(handler=_check)
    actions.add_parser("list", help="show each schema, its default topic and subject").set_defaults(handler=_list)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    topics = topics_with_overrides({s.name: s.default_topic for s in ALL_SCHEMAS}, args.topic, "--topic")
    problems = [problem for schema in ALL_SCHEMAS for problem in lint_schema(schema)]
    for problem in problems:
        print(f"LINT  {problem}")
    url = args.registry or LocalStack(settings).endpoints.schema_registry_url
    client = registry_client(url)
    failed = bool(problems)
    for schema in ALL_SCHEMAS:
        try:
            result = ensure_registered(client, schema, topics[schema.name], dry_run=args.dry_run)
        except SchemaCompatibilityError as exc:
            print(f"FAIL  {exc}")
            failed = True
            continue
        schema_id = "" if result.schema_id is None else f" id {result.schema_id}"
        print(f"OK    {schema.file:<20} {result.subject:<40} {result.action}{schema_id}")
    return 1 if failed else 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    for schema in ALL_SCHEMAS:
        print(f"{schema.file:<20} {schema.record_type.__name__:<14} {schema.default_topic}")
    return 0
