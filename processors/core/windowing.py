"""Event-time windowing shared by the bar processors: which bar an event joins, when it closes, what is late.

Model (one engine per processor; every key below is per symbol, one Kafka partition key):

- Bars are ``[start, start + interval)`` in exchange time, ``start`` a multiple of the interval counted from
  the Unix epoch (UTC). Times are integer milliseconds.
- The **watermark** of a symbol is the largest exchange time its events have covered so far. It is per symbol
  because symbols share partitions but not clocks: a quiet contract must not be closed by a busy one, and a
  replay of one symbol gives the same bars whatever else is interleaved. An event covers a point (ticks,
  books) or a span (a 1-minute kline covers its whole minute, so the last minute of a 5-minute bar closes it
  at once).
- A bar is emitted once ``watermark >= bar end + grace``. An event whose bar is already emitted (or would
  have been) is **late**: it is counted and returned as a :class:`~schemas.derived.LateEvent`, never dropped
  silently. A bar can also refuse an event it already holds (a duplicate kline minute): that is a
  ``duplicate`` LateEvent.
- Intervals without events give no bar (KuCoin's convention) unless ``emit_empty`` is set; then gaps are
  filled with bars that carry the previous bar's close forward, from the first real bar of a window on.
- :meth:`WindowEngine.flush` closes every open bar at end of input (replay, golden runs). Live workers never
  flush: nothing here looks at a wall clock, so a stalled symbol keeps its last bar open until its next
  event.

The engine knows nothing about what a bar holds: a :class:`BarLogic` opens, updates, closes and serialises
bars. The state is plain data (ints, floats, strings, lists), so a snapshot can live in a changelogged table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Generic, Protocol, TypedDict, TypeVar

from schemas.derived import LateEvent

__all__ = [
    "DEFAULT_MAX_GRACE_MS",
    "NO_WATERMARK",
    "BarLogic",
    "SymbolState",
    "WindowEngine",
    "WindowSpec",
    "WindowState",
    "WindowedProcessor",
    "default_grace_ms",
]

NO_WATERMARK = -(2**63)
"""Watermark of a symbol that has seen no event (Avro ``long`` minimum, so it serialises)."""
_NEVER = 2**63 - 1

DEFAULT_MAX_GRACE_MS = 10_000

S_contra = TypeVar("S_contra", contravariant=True)
B = TypeVar("B")
O_co = TypeVar("O_co", covariant=True)
S = TypeVar("S")
O = TypeVar("O")  # noqa: E741


def default_grace_ms(interval_ms: int) -> int:
    """Two intervals, at most 10 s: 2 s for 1 s bars, 10 s for minutes and longer.

    Lateness comes from delivery reordering, which does not grow with the bar length, so long bars do not
    need a long grace; short bars get at least one full interval of slack.
    """
    return min(2 * interval_ms, DEFAULT_MAX_GRACE_MS)


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Which bars to build: intervals (ms), grace per interval (ms; missing ones use
    :func:`default_grace_ms`), and whether to fill intervals without events."""

    intervals_ms: tuple[int, ...]
    grace_ms: Mapping[int, int] = field(default_factory=dict)
    emit_empty: bool = False

    def __post_init__(self) -> None:
        if not self.intervals_ms:
            raise ValueError("at least one interval is needed")
        if len(set(self.intervals_ms)) != len(self.intervals_ms):
            raise ValueError(f"duplicate intervals in {self.intervals_ms}")
        if any(interval <= 0 for interval in self.intervals_ms):
            raise ValueError(f"intervals must be positive: {self.intervals_ms}")
        unknown = set(self.grace_ms) - set(self.intervals_ms)
        if unknown:
            raise ValueError(f"grace given for unknown intervals {sorted(unknown)}")
        if any(grace < 0 for grace in self.grace_ms.values()):
            raise ValueError(f"grace must not be negative: {dict(self.grace_ms)}")
        object.__setattr__(self, "intervals_ms", tuple(sorted(self.intervals_ms)))

    def grace_for(self, interval_ms: int) -> int:
        return self.grace_ms.get(interval_ms, default_grace_ms(interval_ms))


class BarLogic(Protocol[S_contra, B, O_co]):
    """What a processor's bars hold: ``S`` is one event digested once (shared by all intervals), ``B`` a
    mutable bar accumulator, ``O`` the emitted record."""

    def open(self, sample: S_contra, start_ms: int) -> B:
        """A new bar starting at ``start_ms`` holding one sample."""
        ...

    def add(self, bar: B, sample: S_contra) -> bool:
        """Fold a sample into ``bar``; ``False`` refuses it as a duplicate of one the bar holds."""
        ...

    def close(self, symbol: str, interval_ms: int, start_ms: int, bar: B) -> O_co:
        """The record of a finished bar."""
        ...

    def carry(self, symbol: str, interval_ms: int, start_ms: int, previous: B) -> O_co:
        """The record of an interval without events: ``previous``'s close carried forward (``emit_empty``)."""
        ...

    def dump(self, bar: B) -> list[Any]:
        """The bar as a fresh JSON-compatible list (sharing nothing mutable with the live bar)."""
        ...

    def load(self, data: list[Any]) -> B:
        """Inverse of :meth:`dump`."""
        ...


class WindowState(TypedDict):
    """Serialised state of one (symbol, interval) window."""

    interval_ms: int
    emitted_end_ms: int | None
    late_count: int
    open: list[list[Any]]
    """``[start_ms, dumped bar]`` pairs, by start."""
    last_closed: list[Any] | None
    """Dumped last emitted bar, kept only with ``emit_empty``."""


class SymbolState(TypedDict):
    """Serialised state of one symbol: what a changelogged table would hold under the symbol key."""

    watermark_ms: int
    last_sequence: int | None
    windows: list[WindowState]


class _Window(Generic[B]):
    __slots__ = ("emitted_end", "grace", "interval", "last_closed", "late_count", "open")

    def __init__(self, interval: int, grace: int) -> None:
        self.interval = interval
        self.grace = grace
        self.open: dict[int, B] = {}
        self.emitted_end: int | None = None
        self.last_closed: B | None = None
        self.late_count = 0


class _Symbol(Generic[B]):
    __slots__ = ("last_sequence", "next_due", "watermark", "windows")

    def __init__(self, windows: list[_Window[B]]) -> None:
        self.watermark = NO_WATERMARK
        self.last_sequence: int | None = None
        self.windows = windows
        self.next_due = _NEVER
        """Smallest watermark that closes a bar; derived, so not serialised."""


class WindowEngine(Generic[S, B, O]):
    """Per-symbol event-time bars for every interval of a :class:`WindowSpec`."""

    def __init__(self, processor: str, spec: WindowSpec, logic: BarLogic[S, B, O]) -> None:
        self._processor = processor
        self._spec = spec
        self._logic = logic
        self._symbols: dict[str, _Symbol[B]] = {}

    def last_sequence(self, symbol: str) -> int | None:
        """Sequence of the symbol's most recent event (processors use it to spot resent snapshots)."""
        state = self._symbols.get(symbol)
        return None if state is None else state.last_sequence

    def late_counts(self) -> dict[tuple[str, int], int]:
        """LateEvents returned so far per (symbol, interval): for metrics."""
        return {
            (symbol, window.interval): window.late_count
            for symbol, state in self._symbols.items()
            for window in state.windows
        }

    def push(
        self,
        symbol: str,
        time_ms: int,
        sample: S,
        *,
        covers_to_ms: int,
        event_ts_ns: int,
        sequence: int | None,
        receive_ts_ns: int,
    ) -> list[O | LateEvent]:
        """Add one event at ``time_ms`` that covers exchange time up to ``covers_to_ms``.

        Returns the LateEvents of this event and the bars its watermark closed, by (bar end, interval).
        """
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = self._new_symbol()
        logic = self._logic
        watermark = state.watermark
        late: list[tuple[int, int, O | LateEvent]] | None = None
        for window in state.windows:
            interval = window.interval
            start = time_ms - time_ms % interval
            bar = window.open.get(start)
            if bar is not None:
                if logic.add(bar, sample):
                    continue
                reason = "duplicate"
            elif start + interval + window.grace > watermark and (
                window.emitted_end is None or start >= window.emitted_end
            ):
                window.open[start] = logic.open(sample, start)
                due = start + interval + window.grace
                if due < state.next_due:
                    state.next_due = due
                continue
            else:
                reason = "late"
            window.late_count += 1
            event = LateEvent(
                processor=self._processor,
                reason=reason,
                symbol=symbol,
                interval_ms=interval,
                bar_start_ms=start,
                bar_end_ms=start + interval,
                event_ts_ns=event_ts_ns,
                watermark_ms=watermark,
                sequence=sequence,
                receive_ts_ns=receive_ts_ns,
            )
            if late is None:
                late = []
            late.append((start + interval, interval, event))
        state.last_sequence = sequence
        if covers_to_ms > watermark:
            state.watermark = covers_to_ms
            if covers_to_ms >= state.next_due:
                closed = self._close_due(symbol, state)
                if late is not None:
                    closed.extend(late)
                closed.sort(key=_BY_END_INTERVAL)
                return [item[2] for item in closed]
        return [] if late is None else [item[2] for item in late]

    def flush(self) -> list[O | LateEvent]:
        """Emit every open bar of every symbol, by (bar end, symbol, interval): for the end of a replay."""
        closed: list[tuple[int, str, int, O | LateEvent]] = []
        for symbol in sorted(self._symbols):
            state = self._symbols[symbol]
            for window in state.windows:
                for end, interval, record in self._close_window(symbol, window, None):
                    closed.append((end, symbol, interval, record))
            state.next_due = self._next_due(state)
        closed.sort(key=_BY_END_SYMBOL_INTERVAL)
        return [item[3] for item in closed]

    def _new_symbol(self) -> _Symbol[B]:
        return _Symbol([_Window(interval, self._spec.grace_for(interval)) for interval in self._spec.intervals_ms])

    def _close_due(self, symbol: str, state: _Symbol[B]) -> list[tuple[int, int, O | LateEvent]]:
        closed: list[tuple[int, int, O | LateEvent]] = []
        for window in state.windows:
            closed.extend(self._close_window(symbol, window, state.watermark - window.grace))
        state.next_due = self._next_due(state)
        return closed

    def _close_window(self, symbol: str, window: _Window[B], horizon: int | None) -> list[tuple[int, int, O]]:
        """Emit the window's bars ending at or before ``horizon`` (all of them for ``None``), in order."""
        interval = window.interval
        emit_empty = self._spec.emit_empty
        out: list[tuple[int, int, O]] = []
        due = sorted(start for start in window.open if horizon is None or start + interval <= horizon)
        for start in due:
            bar = window.open.pop(start)
            if emit_empty:
                self._carry_until(symbol, window, start, out)
                window.last_closed = bar
            out.append((start + interval, interval, self._logic.close(symbol, interval, start, bar)))
            window.emitted_end = start + interval
        if emit_empty and horizon is not None:
            self._carry_until(symbol, window, horizon - horizon % interval, out)
        return out

    def _carry_until(self, symbol: str, window: _Window[B], until: int, out: list[tuple[int, int, O]]) -> None:
        """Fill the window's gap from its last emitted bar up to the bar starting at ``until``."""
        previous = window.last_closed
        start = window.emitted_end
        if previous is None or start is None or start >= until:
            return
        interval = window.interval
        for gap_start in range(start, until, interval):
            out.append((gap_start + interval, interval, self._logic.carry(symbol, interval, gap_start, previous)))
        window.emitted_end = until

    def _next_due(self, state: _Symbol[B]) -> int:
        due = _NEVER
        for window in state.windows:
            if self._spec.emit_empty and window.emitted_end is not None:
                first = window.emitted_end
            elif window.open:
                first = min(window.open)
            else:
                continue
            due = min(due, first + window.interval + window.grace)
        return due

    # State: plain, JSON-compatible data per symbol.

    def snapshot_symbol(self, symbol: str) -> SymbolState | None:
        """One symbol's state, detached from the live one; ``None`` for a symbol never seen."""
        state = self._symbols.get(symbol)
        return None if state is None else self._snapshot(state)

    def _snapshot(self, state: _Symbol[B]) -> SymbolState:
        dump = self._logic.dump
        return SymbolState(
            watermark_ms=state.watermark,
            last_sequence=state.last_sequence,
            windows=[
                WindowState(
                    interval_ms=window.interval,
                    emitted_end_ms=window.emitted_end,
                    late_count=window.late_count,
                    open=[[start, dump(window.open[start])] for start in sorted(window.open)],
                    last_closed=None if window.last_closed is None else dump(window.last_closed),
                )
                for window in state.windows
            ],
        )

    def restore_symbol(self, symbol: str, saved: SymbolState) -> None:
        """Replace one symbol's state by a snapshot taken with the same :class:`WindowSpec`."""
        intervals = tuple(window["interval_ms"] for window in saved["windows"])
        if intervals != self._spec.intervals_ms:
            raise ValueError(f"snapshot of {symbol} has intervals {intervals}, this engine {self._spec.intervals_ms}")
        state = self._new_symbol()
        state.watermark = saved["watermark_ms"]
        state.last_sequence = saved["last_sequence"]
        load = self._logic.load
        for window, data in zip(state.windows, saved["windows"], strict=True):
            window.emitted_end = data["emitted_end_ms"]
            window.late_count = data["late_count"]
            window.open = {start: load(bar) for start, bar in data["open"]}
            window.last_closed = None if data["last_closed"] is None else load(data["last_closed"])
        state.next_due = self._next_due(state)
        self._symbols[symbol] = state

    def snapshot(self) -> dict[str, SymbolState]:
        return {symbol: self._snapshot(state) for symbol, state in sorted(self._symbols.items())}

    def restore(self, saved: Mapping[str, SymbolState]) -> None:
        self._symbols.clear()
        for symbol, state in saved.items():
            self.restore_symbol(symbol, state)


_BY_END_INTERVAL = itemgetter(0, 1)
_BY_END_SYMBOL_INTERVAL = itemgetter(0, 1, 2)


class WindowedProcessor(Generic[S, B, O]):
    """The state surface every processor shares: snapshot and restore, whole or per symbol, and flush.

    Contract relied on for exactly-once recovery: for any stream and any cut point, ``process`` up to the
    cut, read :attr:`state`, set it on a fresh instance with the same config, continue: the outputs
    equal those of an uninterrupted run. A Faust wrapper can keep :meth:`snapshot_symbol` of the record's
    symbol in a table keyed by symbol (state is per symbol, so one record touches one table entry).
    """

    _engine: WindowEngine[S, B, O]

    @property
    def state(self) -> dict[str, SymbolState]:
        """All symbols' state as plain data (JSON-compatible)."""
        return self._engine.snapshot()

    @state.setter
    def state(self, saved: Mapping[str, SymbolState]) -> None:
        self._engine.restore(saved)

    def snapshot_symbol(self, symbol: str) -> SymbolState | None:
        return self._engine.snapshot_symbol(symbol)

    def restore_symbol(self, symbol: str, saved: SymbolState) -> None:
        self._engine.restore_symbol(symbol, saved)

    def late_counts(self) -> dict[tuple[str, int], int]:
        return self._engine.late_counts()

    def flush(self) -> list[O | LateEvent]:
        """Emit all open bars (end of a finite input); see the module docstring."""
        return self._engine.flush()
