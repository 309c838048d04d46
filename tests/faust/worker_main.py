"""``python -m tests.faust.worker_main BOOTSTRAP REGISTRY JOB [options]``: the ``process`` command against given
services, with the settings built from arguments rather than the test process's environment."""

from __future__ import annotations

import sys

from ops import config
from ops.cli import build_parser


def main(argv: list[str]) -> int:
    bootstrap, registry, *command = argv
    settings = config.load({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SCHEMA_REGISTRY_URL": registry})
    args = build_parser().parse_args(["process", *command])
    code: int = args.handler(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
