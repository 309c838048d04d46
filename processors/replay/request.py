"""What a replay is asked for, and the defaults that shape its order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from processors.replay.errors import ReplayError
from processors.replay.times import TimeRange
from schemas.catalog import RecordSchema

__all__ = ["DEFAULT_LATENESS_MS", "ReplayRequest"]

DEFAULT_LATENESS_MS: Mapping[str, int] = {
    # Raw pushes land in arrival order; symbols sharing a partition disagree by milliseconds.
    "ticker_v2": 1_000,
    "depth50": 1_000,
    "dead_letter": 1_000,
    "imbalance": 1_000,  # one per book push, in the books' order
    # Klines are polled per symbol after the minute closes (and backfilled after gaps); few records per hour.
    "kline": 3_600_000,
    "kline_bar": 3_600_000,
    # Bars close a grace (up to 10 s) after their end, per symbol watermark; late events trail by definition.
    "ticker_bar": 60_000,
    "imbalance_bar": 60_000,
    "late_event": 60_000,
}
"""Per schema, how far behind its partition's newest record a record may be and still be merged at its own
timestamp (see :mod:`processors.replay.merge`). Larger costs memory (that much exchange time is buffered per
partition) and reads that much past the range end."""


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """Topics (their order is the tie-break), an exchange-time range, optional symbols and merge lateness.

    ``lateness_ms`` overrides :data:`DEFAULT_LATENESS_MS` for every topic; ``0`` keeps each partition in
    offset order. ``clip_to_retention`` starts at the oldest retained record instead of refusing a range that
    begins before it (``verify`` uses it for its warm-up).
    """

    topics: tuple[str, ...]
    time_range: TimeRange
    symbols: tuple[str, ...] = ()
    lateness_ms: int | None = None
    clip_to_retention: bool = False

    def __post_init__(self) -> None:
        if not self.topics:
            raise ReplayError("no topic to replay")
        if len(set(self.topics)) != len(self.topics):
            raise ReplayError(f"a topic is named twice in {list(self.topics)}")
        if self.lateness_ms is not None and self.lateness_ms < 0:
            raise ReplayError(f"lateness must not be negative: {self.lateness_ms} ms")

    def lateness_for(self, schema: RecordSchema) -> int:
        """The merge lateness of a topic holding ``schema``."""
        return self.lateness_ms if self.lateness_ms is not None else DEFAULT_LATENESS_MS[schema.name]

    @property
    def keys(self) -> frozenset[bytes] | None:
        """The Kafka keys to keep (symbols are the keys), or None for all."""
        return frozenset(symbol.encode() for symbol in self.symbols) if self.symbols else None
