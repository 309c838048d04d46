"""The fake's clock: exchange time that runs ``speed`` times faster than real time, or stands still.

Only fake time is exchange time (timestamps, sequences, klines, token lifetimes). Client-paced rules (idle
timeout, message and REST rate limits) use real seconds, because clients pace themselves on real timers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["FakeClock"]


class FakeClock:
    """Fake epoch time derived from a real monotonic source.

    ``speed`` 1 is real time, 60 makes a real second a fake minute, 0 freezes the clock so that only
    :meth:`advance` moves it (fully deterministic tests).
    """

    def __init__(self, start_ms: int, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed < 0:
            raise ValueError(f"speed {speed} is negative")
        self.speed = speed
        self._monotonic = monotonic
        self._origin_real = monotonic()
        self._origin_ns = start_ms * 1_000_000

    def now_ns(self) -> int:
        """Fake time in nanoseconds since the epoch."""
        return self._origin_ns + int((self._monotonic() - self._origin_real) * self.speed * 1e9)

    def now_ms(self) -> int:
        """Fake time in milliseconds since the epoch."""
        return self.now_ns() // 1_000_000

    def advance(self, ms: int) -> None:
        """Jump fake time forward by ``ms`` (never backward)."""
        if ms < 0:
            raise ValueError("the clock never goes backward")
        self._origin_ns += ms * 1_000_000

    def real_seconds(self, fake_ns: int) -> float:
        """How many real seconds ``fake_ns`` of fake time take (infinite on a frozen clock)."""
        return float("inf") if self.speed == 0 else fake_ns / 1e9 / self.speed
