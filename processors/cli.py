"""``kucoin-kafka process ticker-bars|kline-bars|imbalance``: one processing job as its own worker process.

Each job is one Faust worker (a container per job in production); several processes of the same job with the same
``--group-id`` share its partitions. The process exits with code 70 after a failed checkpoint or event, or a
checkpoint still unfinished after ``--checkpoint-timeout``, so that a supervisor restarts it from the last commit.
"""

from __future__ import annotations

import argparse

from ops.arguments import positive_number
from ops.config import Settings
from ops.stack.local import LocalStack
from processors.jobs import JOB_NAMES, job
from schemas.catalog import topics_with_overrides

__all__ = ["register"]

DEFAULT_METRICS_PORTS = {"ticker-bars": 9401, "kline-bars": 9402, "imbalance": 9403}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``process`` command."""
    process = commands.add_parser(
        "process",
        help="run one processing job (bars, imbalance) as a Faust worker",
        description="Consume a raw Avro topic and write derived Avro records, exactly-once by default.",
    )
    jobs = process.add_subparsers(dest="job", required=True, metavar="JOB")
    for name in JOB_NAMES:
        spec = job(name)
        parser = jobs.add_parser(
            name, help=f"{spec.input.default_topic} -> {', '.join(spec.default_topics().values())}"
        )
        parser.add_argument("--input", default=spec.input.default_topic, help="input topic (default %(default)s)")
        parser.add_argument(
            "--output",
            action="append",
            default=[],
            metavar="SCHEMA=TOPIC",
            help=f"override an output topic; schemas: {', '.join(spec.default_topics())}",
        )
        parser.add_argument("--group-id", default=f"kucoin-{name}", help="consumer group and Faust app id")
        parser.add_argument("--instance-id", help="static group membership id: a restart rejoins without a rebalance")
        parser.add_argument(
            "--guarantee",
            choices=("exactly_once", "at_least_once"),
            default="exactly_once",
            help="processing guarantee (at_least_once is the benchmark baseline)",
        )
        parser.add_argument(
            "--commit-interval",
            type=positive_number,
            default=0.1,
            help="seconds from one checkpoint's start to the next (the next starts at once when one takes longer)",
        )
        parser.add_argument(
            "--session-timeout", type=positive_number, default=10.0, help="consumer group session timeout (s)"
        )
        parser.add_argument(
            "--checkpoint-timeout",
            type=positive_number,
            default=60.0,
            help="seconds a checkpoint may take before the worker exits with code 70 for a restart (default: 60, "
            "the transaction timeout)",
        )
        parser.add_argument(
            "--metrics-port", type=int, default=DEFAULT_METRICS_PORTS[name], help="Prometheus port, 0 for none"
        )
        parser.add_argument("--inverse-symbol", action="append", default=[], help="inverse contract (imbalance)")
        parser.add_argument("--log-level", default="WARNING")
        parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from processors.app import WorkerConfig, build_app, run_worker  # Faust is imported only to run a worker
    from processors.metrics import WorkerStats, serve

    spec = job(args.job, inverse_symbols=args.inverse_symbol)
    endpoints = LocalStack(settings).endpoints
    config = WorkerConfig(
        job=spec,
        bootstrap_servers=endpoints.bootstrap_servers,
        registry_url=endpoints.schema_registry_url,
        input_topic=args.input,
        output_topics=topics_with_overrides(spec.default_topics(), args.output, "--output"),
        group_id=args.group_id,
        data_dir=settings.home / "processors",
        exactly_once=args.guarantee == "exactly_once",
        commit_interval_s=args.commit_interval,
        instance_id=args.instance_id,
        session_timeout_s=args.session_timeout,
        checkpoint_timeout_s=args.checkpoint_timeout,
    )
    stats = WorkerStats(spec.name)
    app = build_app(config, stats)
    if args.metrics_port:
        serve(stats, args.metrics_port)
    return run_worker(app, args.log_level)
