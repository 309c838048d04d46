"""Client-side limit on messages sent over one WebSocket connection (the server allows 100 per 10 s)."""

from __future__ import annotations

from collections import deque

__all__ = ["DEFAULT_MAX_MESSAGES", "DEFAULT_WINDOW_S", "MessageRateLimiter"]

DEFAULT_MAX_MESSAGES = 90
DEFAULT_WINDOW_S = 10.0


class MessageRateLimiter:
    """Sliding-window log: at most ``max_messages`` sends in any ``window_s`` seconds.

    The default keeps 10 messages of headroom below the server's 100, for pings and clock differences.
    """

    def __init__(self, max_messages: int = DEFAULT_MAX_MESSAGES, window_s: float = DEFAULT_WINDOW_S) -> None:
        if max_messages < 1 or window_s <= 0:
            raise ValueError("need max_messages >= 1 and window_s > 0")
        self._max = max_messages
        self._window = window_s
        self._sent: deque[float] = deque()

    def next_allowed(self, now: float) -> float:
        """The earliest time (``now`` or later) at which one more message may be sent."""
        while self._sent and self._sent[0] + self._window <= now:
            self._sent.popleft()
        if len(self._sent) < self._max:
            return now
        return self._sent[0] + self._window

    def try_acquire(self, now: float) -> bool:
        """Record a send at ``now`` if the window has room; ``False`` means wait for :meth:`next_allowed`."""
        if self.next_allowed(now) > now:
            return False
        self._sent.append(now)
        return True
