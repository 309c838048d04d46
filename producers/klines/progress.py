"""The backfill progress bar: pure arithmetic and rendering, plus a writer that throttles redraws.

Progress is measured in candle *slots* (candle starts in the range, present or missing): they advance at a steady
rate even through stretches without trades, where counting candles would stall the bar and the ETA.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TextIO

__all__ = ["Progress", "ProgressBar", "format_duration"]

_BAR_WIDTH = 24
_TTY_REDRAW_S = 0.1
_LOG_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Progress:
    """Totals estimated at the start of a run, and what the committed pages have done since."""

    slots_total: int
    pages_total: int
    started_s: float
    slots_done: int = 0
    pages_done: int = 0
    candles: int = 0

    def page_committed(self, slots: int, candles: int) -> Progress:
        """One more page in Kafka, settling ``slots`` candle starts of which ``candles`` existed."""
        return replace(
            self,
            slots_done=self.slots_done + slots,
            pages_done=self.pages_done + 1,
            candles=self.candles + candles,
        )

    @property
    def fraction(self) -> float:
        """Done share of the slots, 0..1 (1 for an empty run)."""
        return 1.0 if self.slots_total <= 0 else min(1.0, self.slots_done / self.slots_total)

    def eta_s(self, now_s: float) -> float | None:
        """Seconds left at the rate so far; ``None`` before anything is done."""
        elapsed = now_s - self.started_s
        if self.slots_done <= 0 or elapsed <= 0:
            return None
        return max(0.0, elapsed * (self.slots_total - self.slots_done) / self.slots_done)

    def render(self, now_s: float) -> str:
        """One status line: percent, bar, pages, candles, rate, elapsed or ETA."""
        filled = round(self.fraction * _BAR_WIDTH)
        elapsed = max(now_s - self.started_s, 1e-9)
        eta = self.eta_s(now_s)
        tail = (
            f"in {format_duration(elapsed)}"
            if self.fraction >= 1.0
            else f"ETA {'?' if eta is None else format_duration(eta)}"
        )
        return (
            f"klines {self.fraction:4.0%} |{'#' * filled}{'-' * (_BAR_WIDTH - filled)}| "
            f"{self.pages_done}/{max(self.pages_total, self.pages_done)} pages, {self.candles:,} candles, "
            f"{self.candles / elapsed:,.0f}/s, {tail}"
        )


def format_duration(seconds: float) -> str:
    """``H:MM:SS``."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class ProgressBar:
    """Draws :class:`Progress` on a terminal in place, or as a line every few seconds into a log or pipe."""

    def __init__(self, stream: TextIO | None, is_tty: bool) -> None:
        self._stream = stream
        self._tty = is_tty
        self._last_s = float("-inf")

    def update(self, progress: Progress, now_s: float, final: bool = False) -> None:
        """Show ``progress`` if enough time has passed since the last draw (always when ``final``)."""
        if self._stream is None or not (
            final or now_s - self._last_s >= (_TTY_REDRAW_S if self._tty else _LOG_EVERY_S)
        ):
            return
        self._last_s = now_s
        line = progress.render(now_s)
        self._stream.write(f"\r{line}\x1b[K" + ("\n" if final else "") if self._tty else line + "\n")
        self._stream.flush()

    def line(self, text: str) -> None:
        """A plain message (live mode's per-round summary)."""
        if self._stream is not None:
            self._stream.write(text + "\n")
            self._stream.flush()
