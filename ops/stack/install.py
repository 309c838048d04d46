"""Resolving the broker and registry from Maven Central into the stack's cache (never into the repository).

Maven does the downloading (with its own retries and checksum checks) into ``~/.m2``; the jars are then copied,
or for the registry unpacked, into ``<home>/cache/<service>-<version>``. A marker file written last makes an
interrupted install start over instead of running half a distribution.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from importlib import resources
from pathlib import Path

from ops.stack.errors import StackError
from ops.stack.versions import APICURIO_VERSION, KAFKA_VERSION, LOG4J_VERSION

__all__ = ["apicurio_dir", "install_apicurio", "install_kafka", "is_installed", "kafka_libs"]

_COMPLETE = ".complete"


def kafka_libs(home: Path) -> Path:
    """The folder holding every jar of the pinned Kafka broker and its tools."""
    return home / "cache" / f"kafka-{KAFKA_VERSION}" / "libs"


def apicurio_dir(home: Path) -> Path:
    """The unpacked Quarkus fast-jar distribution of the pinned Apicurio Registry."""
    return home / "cache" / f"apicurio-registry-{APICURIO_VERSION}"


def is_installed(home: Path) -> bool:
    """True when both distributions are complete in the cache (nothing to download)."""
    return (kafka_libs(home).parent / _COMPLETE).is_file() and (apicurio_dir(home) / _COMPLETE).is_file()


def _mvn(args: list[str], log: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (`mvn`) is not on PATH: install it (e.g. `apt-get install maven`) to fetch the stack.")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        done = subprocess.run([mvn, "-B", "-q", *args], stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise StackError(f"Maven failed (exit {done.returncode}) resolving the stack: see {log}")


def install_kafka(home: Path) -> Path:
    """Resolve the Kafka broker jars (idempotent); returns the libs folder."""
    libs = kafka_libs(home)
    if (libs.parent / _COMPLETE).is_file():
        return libs
    shutil.rmtree(libs.parent, ignore_errors=True)
    libs.mkdir(parents=True)
    with resources.as_file(resources.files("ops.stack") / "kafka-deps.xml") as pom:
        _mvn(
            [
                "-f", str(pom), "dependency:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={libs}",
                f"-Dkafka.version={KAFKA_VERSION}", f"-Dlog4j.version={LOG4J_VERSION}",
            ],
            home / "logs" / "install.log",
        )  # fmt: skip
    (libs.parent / _COMPLETE).write_text(KAFKA_VERSION)
    return libs


def install_apicurio(home: Path) -> Path:
    """Resolve and unpack the Apicurio Registry app's ``all`` assembly (idempotent); returns its folder."""
    target = apicurio_dir(home)
    if (target / _COMPLETE).is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    download = home / "cache" / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    artifact = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"
    _mvn(
        ["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={download}"],
        home / "logs" / "install.log",
    )
    archive = download / f"apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    archive.unlink()
    if not (target / "quarkus-run.jar").is_file():
        raise StackError(f"{archive.name} has no quarkus-run.jar at its top level: unexpected layout in {target}")
    (target / _COMPLETE).write_text(APICURIO_VERSION)
    return target
