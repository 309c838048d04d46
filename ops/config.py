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

__all__ = ["DEFAULT_KUCOIN_REST_URL", "ENV_VARS", "KafkaSecurity", "RegistrySecurity", "Secret", "Settings", "load"]

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
    "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.",
    "KAFKA_SASL_MECHANISM": "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL protocol).",
    "KAFKA_SASL_USERNAME": "SASL user name.",
    "KAFKA_SASL_PASSWORD": "SASL password (or KAFKA_SASL_PASSWORD_FILE: a file holding it).",
    "KAFKA_SSL_CA_LOCATION": "PEM file of the CA that signed the brokers' certificates.",
    "KAFKA_SSL_CERTIFICATE_LOCATION": "PEM client certificate, for mutual TLS.",
    "KAFKA_SSL_KEY_LOCATION": "PEM client private key, for mutual TLS.",
    "KAFKA_SSL_KEY_PASSWORD": "Password of the client key (or KAFKA_SSL_KEY_PASSWORD_FILE).",
    "SCHEMA_REGISTRY_BASIC_AUTH": "user:password for the registry (or SCHEMA_REGISTRY_BASIC_AUTH_FILE).",
    "SCHEMA_REGISTRY_CA_LOCATION": "PEM file of the CA that signed the registry's TLS certificate.",
}


class Secret:
    """A secret value that never shows in a repr, a log line or an f-string; :meth:`reveal` gives it to a client."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the client configuration that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How clients authenticate to Kafka and verify it (PLAINTEXT: none of it)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: Secret | None = None


@dataclass(frozen=True, slots=True)
class RegistrySecurity:
    """How clients authenticate to the schema registry and verify its TLS certificate."""

    basic_auth: Secret | None = None
    ssl_ca_location: str | None = None


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
    kafka_security: KafkaSecurity = KafkaSecurity()
    registry_security: RegistrySecurity = RegistrySecurity()


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


_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    """``NAME`` from the environment, or the content of the file named by ``NAME_FILE`` (Docker/K8s secrets)."""
    if value := env.get(name):
        return Secret(value)
    if path := env.get(f"{name}_FILE"):
        try:
            return Secret(Path(path).read_text().strip())
        except OSError as exc:
            raise ValueError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from None
    return None


def _kafka_security(env: Mapping[str, str]) -> KafkaSecurity:
    protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in _PROTOCOLS:
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of {', '.join(_PROTOCOLS)}")
    mechanism = env.get("KAFKA_SASL_MECHANISM") or None
    if protocol.startswith("SASL"):
        mechanism = (mechanism or "PLAIN").upper()
        if mechanism not in _MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM={mechanism!r} is not one of {', '.join(_MECHANISMS)}")
        if not env.get("KAFKA_SASL_USERNAME") or _secret(env, "KAFKA_SASL_PASSWORD") is None:
            raise ValueError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or _FILE)")
    return KafkaSecurity(
        protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=env.get("KAFKA_SASL_USERNAME") or None,
        sasl_password=_secret(env, "KAFKA_SASL_PASSWORD"),
        ssl_ca_location=env.get("KAFKA_SSL_CA_LOCATION") or None,
        ssl_certificate_location=env.get("KAFKA_SSL_CERTIFICATE_LOCATION") or None,
        ssl_key_location=env.get("KAFKA_SSL_KEY_LOCATION") or None,
        ssl_key_password=_secret(env, "KAFKA_SSL_KEY_PASSWORD"),
    )


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
        kafka_security=_kafka_security(env),
        registry_security=RegistrySecurity(
            basic_auth=_secret(env, "SCHEMA_REGISTRY_BASIC_AUTH"),
            ssl_ca_location=env.get("SCHEMA_REGISTRY_CA_LOCATION") or None,
        ),
    )
