"""``kucoin-kafka stack up|down|status|logs|install``: the local Kafka + schema registry."""

from __future__ import annotations

import argparse
import sys
import time

from ops.config import Settings
from ops.stack.local import LocalStack

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stack`` command and its actions."""
    stack = commands.add_parser(
        "stack",
        help="run the local Apache Kafka (KRaft) broker and Apicurio schema registry",
        description=(
            "The local stack: Apache Kafka in KRaft mode (one node) and Apicurio Registry serving the Confluent "
            "Schema Registry API, both resolved from Maven Central on first use and run as background processes "
            "with logs under $KUCOIN_KAFKA_HOME/logs. Set KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL to use "
            "external services instead."
        ),
    )
    actions = stack.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("up", help="start both services (idempotent) and wait until healthy").set_defaults(handler=_up)
    actions.add_parser("down", help="stop both services; no process is left behind").set_defaults(handler=_down)
    actions.add_parser("status", help="show each service, its address, pid and health").set_defaults(handler=_status)
    actions.add_parser("install", help="only resolve the jars into the cache (no start)").set_defaults(handler=_install)
    logs = actions.add_parser("logs", help="print the tail of a service log")
    logs.add_argument("service", choices=["kafka", "schema-registry"])
    logs.add_argument("-n", "--lines", type=int, default=50, help="lines from the end (default 50)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)")
    logs.set_defaults(handler=_logs)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    stack = LocalStack(settings)
    endpoints = stack.up()
    print(f"stack up in {time.monotonic() - started:.1f} s")
    print(f"KAFKA_BOOTSTRAP_SERVERS={endpoints.bootstrap_servers}")
    print(f"SCHEMA_REGISTRY_URL={endpoints.schema_registry_url}")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    LocalStack(settings).down()
    return 0


def _install(args: argparse.Namespace, settings: Settings) -> int:
    LocalStack(settings).install()
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    statuses = LocalStack(settings).status()
    for status in statuses:
        print(status.line())
    return 0 if all(s.healthy for s in statuses) else 1


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    stack = LocalStack(settings)
    service = stack.kafka if args.service == "kafka" else stack.registry
    try:
        with service.log_file.open(errors="replace") as log:
            for line in log.readlines()[-args.lines :]:
                sys.stdout.write(line)
            while args.follow:
                line = log.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.3)
    except FileNotFoundError:
        print(f"no log yet at {service.log_file}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
