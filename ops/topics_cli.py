"""``kucoin-kafka topics ensure|plan``: provision the pipeline's topics (idempotent, with a dry run)."""

from __future__ import annotations

import argparse

from ops.admin import Admin
from ops.config import Settings
from ops.stack.local import LocalStack
from ops.topics import default_specs, ensure_topics

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``topics`` command."""
    topics = commands.add_parser(
        "topics",
        help="create the pipeline's topics and correct their configuration (idempotent)",
        description="Create missing topics; correct retention, cleanup policy, compression and min.insync.replicas; "
        "REPORT (never apply) a partition count that differs from the plan, since adding partitions moves "
        "symbols to other partitions. Exit code 1 when a partition mismatch is found.",
    )
    actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (("ensure", "apply the plan"), ("plan", "only show what ensure would do (dry run)")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--brokers", help="bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS or the local stack)")
        action.add_argument("--partitions", type=int, default=6, help="partitions per topic (default 6)")
        action.add_argument("--replication-factor", type=int, default=1, help="replicas per partition (default 1)")
        action.add_argument("--min-insync-replicas", type=int, default=1, help="min.insync.replicas (default 1)")
        action.set_defaults(handler=_ensure, dry_run=name == "plan")


def _ensure(args: argparse.Namespace, settings: Settings) -> int:
    if args.partitions < 1 or args.replication_factor < 1 or args.min_insync_replicas < 1:
        raise ValueError("--partitions, --replication-factor and --min-insync-replicas must be at least 1")
    if args.min_insync_replicas > args.replication_factor:
        raise ValueError("--min-insync-replicas cannot exceed --replication-factor")
    brokers = args.brokers or LocalStack(settings).endpoints.bootstrap_servers
    specs = default_specs(args.partitions, args.replication_factor, args.min_insync_replicas)
    changes = ensure_topics(Admin(brokers), specs, dry_run=args.dry_run)
    for change in changes:
        print(change.line())
    return 1 if any(change.kind == "partitions" for change in changes) else 0
