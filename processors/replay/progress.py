"""A one-line progress bar on stderr, by exchange time covered (the only total a merged replay knows exactly)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from processors.replay.times import TimeRange, format_ms

__all__ = ["Progress"]

_EVERY_S = 0.2


class Progress:
    """Redraws at most five times a second; silent when disabled (not a terminal, or ``--no-progress``)."""

    def __init__(
        self,
        time_range: TimeRange,
        label: str,
        enabled: bool,
        stream: TextIO = sys.stderr,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._range = time_range
        self._label = label
        self._enabled = enabled
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._drawn = 0.0
        self._line = ""

    def update(self, position_ms: int, count: int, force: bool = False) -> None:
        """The replay reached exchange time ``position_ms`` after ``count`` records."""
        if not self._enabled:
            return
        now = self._clock()
        if not force and now - self._drawn < _EVERY_S:
            return
        self._drawn = now
        span = self._range.end_ms - self._range.start_ms
        done = min(max((position_ms - self._range.start_ms) / span, 0.0), 1.0)
        elapsed = now - self._started
        rate = count / elapsed if elapsed > 0 else 0.0
        eta = f"{elapsed / done - elapsed:5.0f} s" if 0 < done < 1 else "    -"
        width = 24
        bar = "#" * int(done * width) + "." * (width - int(done * width))
        self._line = (
            f"\r{self._label} [{bar}] {done:6.1%} {count:>12,} records {rate:>10,.0f}/s "
            f"at {format_ms(position_ms)} eta {eta}"
        )
        self._stream.write(self._line)
        self._stream.flush()

    def close(self, position_ms: int, count: int) -> None:
        """Draw the final state and end the line."""
        if self._enabled:
            self.update(position_ms, count, force=True)
            self._stream.write("\n")
            self._stream.flush()
