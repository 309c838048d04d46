"""Background service processes with pid files: start detached, find again, stop for good.

A service runs in its own session (process group), with stdout and stderr appended to its log file, so that
``stack down`` can signal the whole group and nothing is left behind. A pid file is trusted only while that pid is
alive and its command line still names the service (pids are reused).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServiceProcess"]


@dataclass(frozen=True, slots=True)
class ServiceProcess:
    """One detached service: its name, its pid file, its log file, and a string its command line contains."""

    name: str
    pid_file: Path
    log_file: Path
    signature: str

    def pid(self) -> int | None:
        """The running pid of this service, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _cmdline(pid) is None or self.signature not in (_cmdline(pid) or ""):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, argv: Sequence[str], cwd: Path) -> int:
        """Start the service detached; returns its pid."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def exited_early(self) -> bool:
        """True when the pid file names a process that is gone (a start that crashed)."""
        return self.pid_file.is_file() and self.pid() is None

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the service's process group, SIGKILL it after ``timeout``; True if something was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL the service at once (crash tests); True if something was killed."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        _reap(pid)  # dead; if it is our own child, collect it so no zombie outlives ``stop``
        return False
    return True


def _reap(pid: int) -> None:
    """Collect the exit status of our own dead child (a no-op for any other process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
