"""When to send each replayed record to keep its relative exchange timing at a given speed (pure)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pacing"]


@dataclass(frozen=True, slots=True)
class Pacing:
    """``speed`` times real time (1.0 is real time); ``None`` sends as fast as possible.

    The schedule is anchored on the first record sent (``origin``): record times are merge times, which never
    decrease, so every record is due no earlier than the one before it.
    """

    speed: float | None

    def __post_init__(self) -> None:
        if self.speed is not None and not self.speed > 0:
            raise ValueError(f"speed must be positive (or max): {self.speed}")

    def due(self, origin_wall_s: float, origin_ms: int, record_ms: int) -> float:
        """The wall-clock time (same clock as ``origin_wall_s``) at which a record at ``record_ms`` is due."""
        if self.speed is None:
            return origin_wall_s
        return origin_wall_s + (record_ms - origin_ms) / 1000.0 / self.speed

    @classmethod
    def parse(cls, text: str) -> Pacing:
        """``max``, ``10``, ``10x``, ``0.5x``."""
        text = text.strip().lower()
        if text in ("max", "maximum", "inf"):
            return cls(None)
        try:
            return cls(float(text.removesuffix("x")))
        except ValueError:
            raise ValueError(f"speed {text!r}: expected a factor like 1, 10x, 0.5x, or max") from None
