"""Fault injection: what tests can make the fake do wrong, per connection, while it runs.

:class:`ConnectionFaults` is the pure per-connection state: it rewrites the outgoing data frames (duplicates,
swapped pairs, malformed JSON, delays) and queues commands (drop, load-balancing disconnect, error frame) for the
connection's I/O loop. :class:`Faults` is the test-facing controller (``fx.faults``): each method targets one
connection by id or, with ``conn_id=None``, every open connection, and returns the ids it reached.
A :class:`FaultPlan` is applied to connections as they open (``fx.faults.plan_next(plan, connections=2)``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from ops.fake_exchange.streams import Frame

__all__ = ["Command", "ConnectionFaults", "FaultPlan", "Faults", "Outgoing"]

FrameKind = Literal["data", "duplicate", "malformed"]


class Outgoing(NamedTuple):
    """A data-path frame after faults: what to send, how it counts, and how long to wait first."""

    text: str
    kind: FrameKind
    frame: Frame
    delay_s: float


@dataclass(frozen=True, slots=True)
class Command:
    """A one-off action for a connection's I/O loop.

    ``drop``: abort the TCP connection without a close frame. ``disconnect``: a clean server close (code 1001,
    like a load-balancer rotation). ``error``: send an error frame and keep going. ``expire``: the token expired
    (401 frame, then ``1000 Bye``).
    """

    action: Literal["drop", "disconnect", "error", "expire"]
    code: int = 0
    data: str = ""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Faults a connection starts with. Counts are numbers of data frames."""

    drop_after_frames: int | None = None
    disconnect_after_frames: int | None = None
    stall_pongs: bool = False
    duplicate_frames: int = 0
    reorder_frames: int = 0
    malformed_frames: int = 0
    delay_frames: int = 0
    delay_s: float = 0.0


@dataclass
class ConnectionFaults:
    """The live fault state of one connection."""

    stall_pongs: bool = False
    duplicate: int = 0
    reorder: int = 0
    malformed: int = 0
    delay_count: int = 0
    delay_s: float = 0.0
    drop_after: int | None = None
    disconnect_after: int | None = None
    commands: deque[Command] = field(default_factory=deque)

    @classmethod
    def from_plan(cls, plan: FaultPlan) -> ConnectionFaults:
        """The state a planned connection starts with."""
        return cls(
            stall_pongs=plan.stall_pongs,
            duplicate=plan.duplicate_frames,
            reorder=plan.reorder_frames,
            malformed=plan.malformed_frames,
            delay_count=plan.delay_frames,
            delay_s=plan.delay_s,
            drop_after=plan.drop_after_frames,
            disconnect_after=plan.disconnect_after_frames,
        )

    @property
    def active(self) -> bool:
        """Whether outgoing data frames are being rewritten or counted (else they go out as they are)."""
        return bool(
            self.reorder
            or self.malformed
            or self.duplicate
            or self.delay_count
            or self.drop_after is not None
            or self.disconnect_after is not None
        )

    def apply(self, frames: list[Frame]) -> list[Outgoing]:
        """Rewrite outgoing data frames: swap pairs, then inject malformed copies, duplicates and delays."""
        ordered = list(frames)
        index = 0
        while self.reorder > 0 and index + 1 < len(ordered):
            ordered[index], ordered[index + 1] = ordered[index + 1], ordered[index]
            self.reorder -= 1
            index += 2
        out: list[Outgoing] = []
        for frame in ordered:
            delay = 0.0
            if self.delay_count > 0:
                self.delay_count -= 1
                delay = self.delay_s
            if self.malformed > 0:
                self.malformed -= 1
                out.append(Outgoing(frame.text[: len(frame.text) // 2], "malformed", frame, delay))
                delay = 0.0
            out.append(Outgoing(frame.text, "data", frame, delay))
            if self.duplicate > 0:
                self.duplicate -= 1
                out.append(Outgoing(frame.text, "duplicate", frame, 0.0))
        return out

    def count_delivered(self) -> Command | None:
        """Note one delivered data frame; returns the drop/disconnect it triggers, if any."""
        if self.drop_after is not None:
            self.drop_after -= 1
            if self.drop_after <= 0:
                self.drop_after = None
                return Command("drop")
        if self.disconnect_after is not None:
            self.disconnect_after -= 1
            if self.disconnect_after <= 0:
                self.disconnect_after = None
                return Command("disconnect")
        return None


class Faults:
    """The test-facing fault controller of a running fake exchange (``fx.faults``)."""

    def __init__(
        self,
        connections: Callable[[], dict[str, ConnectionFaults]],
        wake: Callable[[str], None],
        expire_tokens: Callable[[], None],
    ) -> None:
        self._connections = connections
        self._wake = wake
        self._expire_tokens = expire_tokens
        self._plans: deque[FaultPlan] = deque()

    def _targets(self, conn_id: str | None) -> list[tuple[str, ConnectionFaults]]:
        live = self._connections()
        if conn_id is None:
            return list(live.items())
        return [(conn_id, live[conn_id])] if conn_id in live else []

    def _each(self, conn_id: str | None, change: Callable[[ConnectionFaults], None]) -> list[str]:
        reached = []
        for cid, state in self._targets(conn_id):
            change(state)
            self._wake(cid)
            reached.append(cid)
        return reached

    def _command(self, conn_id: str | None, command: Command) -> list[str]:
        return self._each(conn_id, lambda s: s.commands.append(command))

    def drop_connection(self, conn_id: str | None = None) -> list[str]:
        """Abort the TCP connection (no close frame), as a network failure would."""
        return self._command(conn_id, Command("drop"))

    def server_disconnect(self, conn_id: str | None = None) -> list[str]:
        """Close cleanly from the server side (1001), like KuCoin's load-balancing rotations."""
        return self._command(conn_id, Command("disconnect"))

    def send_error(self, code: int, data: str, conn_id: str | None = None) -> list[str]:
        """Send ``{"id":<connectId>,"type":"error","code":code,"data":data}``; the socket stays open."""
        return self._command(conn_id, Command("error", code, data))

    def stall_pongs(self, conn_id: str | None = None, *, stalled: bool = True) -> list[str]:
        """Stop (or resume) answering pings."""
        return self._each(conn_id, lambda s: setattr(s, "stall_pongs", stalled))

    def duplicate_frames(self, count: int, conn_id: str | None = None) -> list[str]:
        """Send each of the next ``count`` data frames twice (the copy is recorded as ``duplicate``)."""
        return self._each(conn_id, lambda s: setattr(s, "duplicate", s.duplicate + count))

    def reorder_frames(self, pairs: int, conn_id: str | None = None) -> list[str]:
        """Swap the next ``pairs`` pairs of adjacent data frames."""
        return self._each(conn_id, lambda s: setattr(s, "reorder", s.reorder + pairs))

    def malformed_frames(self, count: int, conn_id: str | None = None) -> list[str]:
        """Send a truncated (invalid JSON) copy before each of the next ``count`` data frames."""
        return self._each(conn_id, lambda s: setattr(s, "malformed", s.malformed + count))

    def delay_frames(self, count: int, seconds: float, conn_id: str | None = None) -> list[str]:
        """Hold each of the next ``count`` data frames back ``seconds`` (real time) before sending it."""

        def change(state: ConnectionFaults) -> None:
            state.delay_count += count
            state.delay_s = seconds

        return self._each(conn_id, change)

    def expire_tokens(self) -> None:
        """Expire every issued token now: open connections get ``401 token is expired`` and close, and
        reconnecting with an old token fails; new tokens from ``bullet-public`` work."""
        self._expire_tokens()
        self._command(None, Command("expire"))

    def plan_next(self, plan: FaultPlan, connections: int = 1) -> None:
        """Apply ``plan`` to each of the next ``connections`` connections from their welcome on."""
        self._plans.extend([plan] * connections)

    def take_plan(self) -> FaultPlan | None:
        """The plan for a connection being opened (used by the server)."""
        return self._plans.popleft() if self._plans else None
