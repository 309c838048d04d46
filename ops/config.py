"""Every environment variable the project reads, in one place.

Nothing else in the code base touches ``os.environ``: modules receive these values as arguments. The CLI and the
test harness call :func:`load` once. Each variable is listed in :data:`ENV_VARS` with its meaning, which is what the
README and ``--help`` show.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_KUCOIN_REST_URL", "ENV_VARS", "Settings", "load"]

DEFAULT_KUCOIN_REST_URL = "https://api-futures.kucoin.com"
DEFAULT_KAFKA_PORT = 19092
DEFAULT_KAFKA_CONTROLLER_PORT = 19093
DEFAULT_REGISTRY_PORT = 18081

ENV_VARS: Mapping[str, str] = {
    "KAFKA_BOOTSTRAP_SERVERS": "Use this Kafka cluster (host:port,...) instead of the local stack.",
    "SCHEMA_REGISTRY_URL": "Use this Confluent-compatible registry (its base URL) instead of the local stack.",
    "KUCOIN_REST_URL": f"KuCoin Futures REST base URL (default {DEFAULT_KUCOIN_REST_URL}).",
    "KUCOIN_KAFKA_HOME": "Where the local stack keeps its jars, data, logs and pid files (default <repo>/.stack).",
    "STACK_KAFKA_PORT": f"Local stack broker port (default {DEFAULT_KAFKA_PORT}).",
    "STACK_KAFKA_CONTROLLER_PORT": f"Local stack KRaft controller port (default {DEFAULT_KAFKA_CONTROLLER_PORT}).",
    "STACK_REGISTRY_PORT": f"Local stack schema registry port (default {DEFAULT_REGISTRY_PORT}).",
    "JAVA_HOME": "A JDK to run Kafka (17+) and the registry (21+); /usr/lib/jvm is searched too.",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """The environment, read once and typed."""

    kafka_bootstrap_servers: str | None
    schema_registry_url: str | None
    kucoin_rest_url: str
    home: Path
    kafka_port: int
    kafka_controller_port: int
    registry_port: int
    java_home: Path | None


def _default_home() -> Path:
    """``<repo>/.stack`` for a source checkout, else a per-user data directory."""
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():
        return repo / ".stack"
    return Path.home() / ".local" / "share" / "kucoin-kafka"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{name}={raw!r} is outside 1..65535")
    return port


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    home = env.get("KUCOIN_KAFKA_HOME")
    java_home = env.get("JAVA_HOME")
    return Settings(
        kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        schema_registry_url=(env.get("SCHEMA_REGISTRY_URL") or "").rstrip("/") or None,
        kucoin_rest_url=(env.get("KUCOIN_REST_URL") or DEFAULT_KUCOIN_REST_URL).rstrip("/"),
        home=Path(home) if home else _default_home(),
        kafka_port=_port(env, "STACK_KAFKA_PORT", DEFAULT_KAFKA_PORT),
        kafka_controller_port=_port(env, "STACK_KAFKA_CONTROLLER_PORT", DEFAULT_KAFKA_CONTROLLER_PORT),
        registry_port=_port(env, "STACK_REGISTRY_PORT", DEFAULT_REGISTRY_PORT),
        java_home=Path(java_home) if java_home else None,
    )
