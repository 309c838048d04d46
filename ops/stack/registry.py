"""The Apicurio Registry of the local stack: start command and health check.

Apicurio serves the Confluent Schema Registry API under ``/apis/ccompat/v7``. Its storage is an H2 database in a
file under the stack's data folder, so schema ids (which every Avro record embeds) survive a registry restart.
"""

from __future__ import annotations

from pathlib import Path

import httpx

__all__ = ["CCOMPAT_PATH", "registry_healthy", "registry_start_argv"]

CCOMPAT_PATH = "/apis/ccompat/v7"
MAIN_JAR = "quarkus-run.jar"


def registry_start_argv(java: Path, dist: Path, data_dir: Path, port: int, heap_mb: int = 512) -> list[str]:
    """The command line of the registry process (loopback only, management interface on ``port + 1``)."""
    properties = {
        "quarkus.http.host": "127.0.0.1",
        "quarkus.http.port": str(port),
        "quarkus.management.host": "127.0.0.1",
        "quarkus.management.port": str(port + 1),
        "apicurio.storage.kind": "sql",
        "apicurio.storage.sql.kind": "h2",
        "apicurio.datasource.url": f"jdbc:h2:file:{data_dir / 'registry'}",
        "apicurio.datasource.username": "sa",
        "apicurio.datasource.password": "sa",
    }
    flags = [f"-D{key}={value}" for key, value in properties.items()]
    return [str(java), f"-Xmx{heap_mb}m", *flags, "-jar", str(dist / MAIN_JAR)]


def registry_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when the Confluent-compatible API answers ``GET /subjects``."""
    try:
        return httpx.get(f"{url}/subjects", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
