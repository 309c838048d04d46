"""Rate-limit arithmetic, pure (the caller passes ``now`` in real seconds).

REST: a weight pool per client address in fixed windows (public pool: 2000 weight per 30 s), reported in the
``gw-ratelimit-*`` headers. WebSocket: at most N client messages per window per connection.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FixedWindow", "Quota", "WeightBudget"]


@dataclass(frozen=True, slots=True)
class Quota:
    """The outcome of one charge: whether it fits, and what the headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        """The ``gw-ratelimit-*`` response headers."""
        return {
            "gw-ratelimit-limit": str(self.limit),
            "gw-ratelimit-remaining": str(self.remaining),
            "gw-ratelimit-reset": str(self.reset_ms),
        }


class FixedWindow:
    """A budget that refills completely ``window_s`` after the first charge of a window."""

    __slots__ = ("_start", "_used", "limit", "window_s")

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._start = float("-inf")
        self._used = 0

    def charge(self, cost: int, now: float) -> Quota:
        """Spend ``cost`` if it fits in the current window; a refused charge spends nothing."""
        if now - self._start >= self.window_s:
            self._start = now
            self._used = 0
        allowed = self._used + cost <= self.limit
        if allowed:
            self._used += cost
        reset_ms = max(0, round((self._start + self.window_s - now) * 1000))
        return Quota(allowed, self.limit, self.limit - self._used, reset_ms)


class WeightBudget:
    """One :class:`FixedWindow` per client key (the real gateway keys the public pool by IP)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._windows: dict[str, FixedWindow] = {}

    def charge(self, key: str, cost: int, now: float) -> Quota:
        """Charge ``cost`` to ``key``'s window."""
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = FixedWindow(self.limit, self.window_s)
        return window.charge(cost, now)
