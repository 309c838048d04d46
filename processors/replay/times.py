"""Exchange-time instants and ranges at millisecond resolution, as users type them and as logs show them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from processors.replay.errors import InvalidRangeError

__all__ = ["TimeRange", "format_ms", "parse_time"]

_EPOCH_MS = re.compile(r"-?\d+")


def parse_time(text: str) -> int:
    """Milliseconds since the Unix epoch from an integer of epoch milliseconds or an ISO-8601 instant.

    An ISO instant without an offset is UTC. Finer than a millisecond is refused rather than rounded: a range
    boundary that silently moved would change which records are in it.
    """
    text = text.strip()
    if _EPOCH_MS.fullmatch(text):
        return int(text)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRangeError(
            f"{text!r} is neither epoch milliseconds nor an ISO-8601 instant (e.g. 2024-11-15T10:00:00.250Z)"
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    if instant.microsecond % 1000:
        raise InvalidRangeError(f"{text!r} is finer than a millisecond; replay ranges have millisecond resolution")
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, e.g. ``2024-11-15T10:00:00.250Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start_ms, end_ms)`` in exchange time; never empty."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise InvalidRangeError(
                f"the range ends ({format_ms(self.end_ms)}) before it starts ({format_ms(self.start_ms)})"
            )
        if self.end_ms == self.start_ms:
            raise InvalidRangeError(f"the range [{format_ms(self.start_ms)}, same) is empty: end is exclusive")

    @classmethod
    def parse(cls, start: str, end: str) -> TimeRange:
        """The range between two user-typed instants."""
        return cls(parse_time(start), parse_time(end))

    def __str__(self) -> str:
        return f"[{format_ms(self.start_ms)}, {format_ms(self.end_ms)})"
