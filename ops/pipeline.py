"""``kucoin-kafka run``: the whole pipeline on the local stack, in one command.

Today it brings the stack up and shows its status; each job (producers, processors) joins this command as it lands.
"""

from __future__ import annotations

import argparse

from ops.config import Settings
from ops.stack.local import LocalStack

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` command."""
    run = commands.add_parser(
        "run",
        help="run the whole pipeline on the local stack",
        description="Bring the local stack up (or use KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL) and run the "
        "pipeline against it.",
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    stack = LocalStack(settings)
    stack.up()
    for status in stack.status():
        print(status.line())
    print("stack is up; `kucoin-kafka stack down` stops it.")
    return 0
