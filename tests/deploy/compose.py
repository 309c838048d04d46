"""Reading docker-compose.yml as Docker Compose would: interpolation, job command lines, healthcheck targets.

``compose-spec.json`` beside this file is the Compose Specification's JSON schema (compose-spec/compose-spec,
``schema/compose-spec.json``, commit a08f8d51, 2025-10-21), vendored so the check runs offline.
"""

from __future__ import annotations

import json
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = [
    "COMPOSE_FILE",
    "ENTRYPOINT",
    "REPO",
    "Compose",
    "Invocation",
    "interpolate",
    "load_compose",
    "option",
    "url_port",
]

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENTRYPOINT = "kucoin-kafka"  # the image's ENTRYPOINT
SHELL_ENTRYPOINT = ["/bin/sh", "-ec"]

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^{}]*))?\}|(?P<named>\w+))")
_HEALTH_URL = re.compile(r"https?://[^'\"\s]+")


def interpolate(text: str, variables: Mapping[str, str], used: set[str] | None = None) -> str:
    """Compose's ``${NAME:-default}`` interpolation (also ``$NAME``, ``${NAME-default}``, ``${NAME:?err}``, ``$$``)."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        if used is not None:
            used.add(name)
        value = variables.get(name)
        op, arg = match["op"], match["arg"] or ""
        if op == ":-":
            return value or interpolate(arg, variables, used)
        if op == "-":
            return interpolate(arg, variables, used) if value is None else value
        if op in (":?", "?") and not value:
            raise ValueError(f"compose variable {name} is required: {arg}")
        if op == ":+":
            return interpolate(arg, variables, used) if value else ""
        if value is None:
            raise ValueError(f"compose variable {name} has no default")
        return value

    return _VARIABLE.sub(replace, text)


def _interpolate_tree(node: Any, variables: Mapping[str, str], used: set[str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables, used)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables, used) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables, used) for key, value in node.items()}
    return node


@dataclass(frozen=True)
class Invocation:
    """One ``kucoin-kafka`` call a service makes: its arguments (after the entry point)."""

    service: str
    argv: list[str]


class Compose:
    """The parsed, interpolated compose file."""

    def __init__(self, raw: dict[str, Any], variables: Mapping[str, str]) -> None:
        self.raw = raw
        self.used_variables: set[str] = set()
        self.doc: dict[str, Any] = _interpolate_tree(raw, variables, self.used_variables)
        self.services: dict[str, dict[str, Any]] = self.doc["services"]

    def image_services(self) -> dict[str, dict[str, Any]]:
        """Services built from this repository's image (they run `kucoin-kafka` jobs)."""
        return {name: svc for name, svc in self.services.items() if "build" in svc}

    def environment(self, service: str) -> dict[str, str]:
        """The container environment of a service (map or list form)."""
        env = self.services[service].get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        return {str(key): str(value) for key, value in env.items()}

    def process_argv(self, service: str) -> list[str]:
        """The container's process: entry point + command, as Docker execs it."""
        svc = self.services[service]
        entrypoint = svc.get("entrypoint", [ENTRYPOINT])
        command = svc.get("command", ["--help"])
        if isinstance(entrypoint, str) or isinstance(command, str):
            raise AssertionError(f"{service}: use the exec (list) form for entrypoint and command")
        return [*entrypoint, *command]

    def invocations(self, service: str, scratch: Path) -> list[Invocation]:
        """Every `kucoin-kafka` call of a service; shell scripts are run with a recording stand-in on PATH."""
        argv = self.process_argv(service)
        if argv[0] == ENTRYPOINT:
            return [Invocation(service, argv[1:])]
        if argv[:2] != SHELL_ENTRYPOINT or len(argv) != 3:
            raise AssertionError(f"{service}: entrypoint must be kucoin-kafka or /bin/sh -ec SCRIPT, not {argv}")
        log = scratch / f"{service}.argv.jsonl"
        stand_in = scratch / "bin" / ENTRYPOINT
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text(
            f"#!{shlex.quote(sys.executable)}\nimport json, sys\n"
            f"with open({str(log)!r}, 'a') as out:\n    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        )
        stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
        env = {"PATH": f"{stand_in.parent}:/usr/bin:/bin"}
        subprocess.run(argv, env=env, check=True, timeout=30)
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        return [Invocation(service, call) for call in calls]

    def healthcheck_urls(self, service: str) -> list[str]:
        """The URLs a service's healthcheck requests."""
        test = (self.services[service].get("healthcheck") or {}).get("test") or []
        text = " ".join(test) if isinstance(test, list) else str(test)
        return _HEALTH_URL.findall(text)


def option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` in an argv (the last one), or None."""
    value = None
    for i, token in enumerate(argv[:-1]):
        if token == name:
            value = argv[i + 1]
    return value


def url_port(url: str) -> tuple[str, int, str]:
    """``(host, port, path)`` of a URL."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port, parts.path


def load_compose(variables: Mapping[str, str] | None = None) -> Compose:
    """docker-compose.yml with every variable at its default (or the given values)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return Compose(raw, variables or {})
