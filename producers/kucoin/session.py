"""One WebSocket connection's protocol state, without the socket: frames and time in, decisions out.

The I/O adapter owns the socket and the clock. It reports what happened (``opened``, ``receive``, ``closed``),
calls ``advance(now)`` for the timers, writes ``data_to_send(now)``, acts on ``signals()`` and sleeps until
``next_deadline()``. ``now`` is a monotonic time in seconds; every decision is a function of the inputs alone.

States (illegal moves raise :class:`~.exceptions.IllegalTransition`)::

    CONNECTING -> AWAITING_WELCOME -> SUBSCRIBING -> STREAMING
         \\______________\\_________________\\______________\\--> CLOSING -> CLOSED
                                                               (any state) --> CLOSED
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from enum import Enum

from schemas.records import TickerV2

from .exceptions import IllegalTransition
from .frames import Ack, Book, ErrorFrame, Event, FrameParser, Pong, Welcome, parse_frame
from .ratelimit import DEFAULT_MAX_MESSAGES, DEFAULT_WINDOW_S, MessageRateLimiter
from .rest import InstanceServer
from .subscriptions import (
    MAX_TOPICS_PER_MESSAGE,
    Action,
    Request,
    SubscriptionTracker,
    build_requests,
    counter_ids,
    diff_topics,
)
from .topics import Stream, Topic

__all__ = [
    "Notice",
    "OpenReplacement",
    "Reconnect",
    "Session",
    "SessionConfig",
    "Signal",
    "State",
    "TopicFailed",
    "TopicSilent",
]


class State(Enum):
    """Lifecycle of one connection."""

    CONNECTING = "connecting"
    AWAITING_WELCOME = "awaiting_welcome"
    SUBSCRIBING = "subscribing"
    STREAMING = "streaming"
    CLOSING = "closing"
    CLOSED = "closed"


_TRANSITIONS: dict[State, frozenset[State]] = {
    State.CONNECTING: frozenset({State.AWAITING_WELCOME, State.CLOSING, State.CLOSED}),
    State.AWAITING_WELCOME: frozenset({State.SUBSCRIBING, State.CLOSING, State.CLOSED}),
    State.SUBSCRIBING: frozenset({State.STREAMING, State.CLOSING, State.CLOSED}),
    State.STREAMING: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}
_WELCOMED = frozenset({State.SUBSCRIBING, State.STREAMING})
_RECEIVING = frozenset({State.AWAITING_WELCOME, State.SUBSCRIBING, State.STREAMING, State.CLOSING})
_LIVE = frozenset({State.CONNECTING, State.AWAITING_WELCOME, State.SUBSCRIBING, State.STREAMING})
_BOOK_STREAMS = {50: Stream.DEPTH50, 5: Stream.DEPTH5}
# Read once: on Python 3.11 every ``State.X`` goes through EnumType.__getattr__ (and hashing a State runs Python).
_STREAMING, _TICKER_STREAM = State.STREAMING, Stream.TICKER_V2


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Client-side timing and limits; the ping timing comes from the bullet reply, not from here."""

    welcome_timeout_s: float = 5.0
    silence_timeout_s: float = 60.0
    """An acked topic that delivers nothing for this long is reported (unknown symbols are acked, then
    silent)."""
    watchdog_period_s: float = 5.0
    rotate_after_s: float = 23 * 3600.0
    """Tokens and connections live 24 h: ask for a replacement connection this long after the token was
    issued."""
    handover_overlap_s: float = 1.0
    """Once the replacement streams, both connections stream this long before the old one closes, so pushes the
    old one had due but not yet sent still arrive (the sequence rules drop the doubles)."""
    max_messages: int = DEFAULT_MAX_MESSAGES
    message_window_s: float = DEFAULT_WINDOW_S
    throttle_s: float = 1.0
    """Pause after a 509 before sending the next subscription message."""
    max_attempts: int = 4
    """Sends of the same topics after 509 refusals before they are reported failed."""
    max_topics_per_message: int = MAX_TOPICS_PER_MESSAGE


@dataclass(frozen=True, slots=True)
class Reconnect:
    """This connection is finished: close it, then connect again with a NEW token after a backoff delay."""

    reason: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class OpenReplacement:
    """Open a second connection for the same topics now; close this one once the replacement streams."""

    reason: str


@dataclass(frozen=True, slots=True)
class TopicFailed:
    """The server refused a subscription (404, 400, or 509 after the last retry)."""

    topic: Topic
    reason: str


@dataclass(frozen=True, slots=True)
class TopicSilent:
    """An acked topic has delivered nothing since ``since`` (repeated while the silence lasts)."""

    topic: Topic
    since: float


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to log that needs no action (a 400 reply, an unexpected welcome, an unknown error code)."""

    message: str


Signal = Reconnect | OpenReplacement | TopicFailed | TopicSilent | Notice


class Session:
    """The protocol state of one connection serving a fixed set of topics (changeable with
    :meth:`set_topics`)."""

    def __init__(
        self,
        *,
        connect_id: str,
        server: InstanceServer,
        topics: Iterable[Topic],
        token_issued_at: float,
        config: SessionConfig = SessionConfig(),
        ids: Callable[[], str] | None = None,
        parser: FrameParser | None = None,
    ) -> None:
        self.connect_id = connect_id
        self.config = config
        self.state = State.CONNECTING
        self.tracker = SubscriptionTracker()
        self._desired: frozenset[Topic] = frozenset(topics)
        self._ping_interval_s = server.ping_interval_ms / 1000
        self._ping_timeout_s = server.ping_timeout_ms / 1000
        self._ids = ids or counter_ids()
        self._parse = parser.parse if parser is not None else parse_frame
        self._limiter = MessageRateLimiter(config.max_messages, config.message_window_s)
        self._queue: deque[Request] = deque()
        self._signals: list[Signal] = []
        self._last_data: dict[tuple[Stream, str], float] = {}
        self._welcome_deadline: float | None = None
        self._ping_due: str | None = None
        self._next_ping_at: float | None = None
        self._pong_deadline: float | None = None
        self._awaited_pong: str | None = None
        self._next_watchdog_at: float | None = None
        self._throttled_until = float("-inf")
        self._rotate_at: float | None = token_issued_at + config.rotate_after_s

    # -- inputs

    def opened(self, now: float) -> None:
        """The socket is connected; the welcome must follow within the welcome timeout."""
        self._move(State.AWAITING_WELCOME)
        self._welcome_deadline = now + self.config.welcome_timeout_s

    def receive(self, frame: bytes | str, now: float, receive_ts_ns: int) -> Event:
        """Digest one frame and return its event, which the caller publishes (market data) or may log."""
        if self.state is not _STREAMING and self.state not in _RECEIVING:
            raise IllegalTransition(f"frame received in state {self.state.name}")
        event = self._parse(frame, receive_ts_ns)
        if type(event) is TickerV2:
            self._last_data[(_TICKER_STREAM, event.symbol)] = now
        elif type(event) is Book:
            self._last_data[(_BOOK_STREAMS[event.depth], event.record.symbol)] = now
        elif isinstance(event, Welcome):
            self._on_welcome(event, now)
        elif isinstance(event, Ack):
            self._on_ack(event, now)
        elif isinstance(event, Pong):
            if event.id == self._awaited_pong:
                self._awaited_pong = self._pong_deadline = None
        elif isinstance(event, ErrorFrame):
            self._on_error(event, now)
        return event

    def set_topics(self, desired: Set[Topic]) -> None:
        """Change the topics of this connection; before the welcome only the plan changes."""
        change = diff_topics(self._desired, desired)
        self._desired = frozenset(desired)
        if self.state in _WELCOMED:
            self._enqueue(Action.UNSUBSCRIBE, change.unsubscribe)
            self._enqueue(Action.SUBSCRIBE, change.subscribe)

    def close(self, reason: str) -> None:
        """Decide to close (shutdown, end of a rotation handover); the caller then closes the socket."""
        self._move(State.CLOSING)
        self._signals.append(Notice(f"closing: {reason}"))

    def closed(self) -> None:
        """The socket is gone, whoever closed it."""
        if self.state is not State.CLOSED:
            self._move(State.CLOSED)

    def advance(self, now: float) -> None:
        """Run the timers due at ``now``: welcome and pong timeouts, pings, the silence watchdog, token
        rotation."""
        if self._rotate_at is not None and now >= self._rotate_at and self.state in _LIVE:
            self._rotate_at = None
            self._signals.append(OpenReplacement("token expires in less than 1 h"))
        if self.state is State.AWAITING_WELCOME and self._welcome_deadline is not None:
            if now >= self._welcome_deadline:
                self._fail(Reconnect(f"no welcome within {self.config.welcome_timeout_s:g} s"))
            return
        if self.state not in _WELCOMED:
            return
        if self._pong_deadline is not None and now >= self._pong_deadline:
            self._fail(Reconnect(f"no pong within {self._ping_timeout_s:g} s"))
            return
        if self._next_ping_at is not None and now >= self._next_ping_at:
            self._ping_due = self._ids()
            self._next_ping_at = now + self._ping_interval_s
        if self._next_watchdog_at is not None and now >= self._next_watchdog_at:
            self._watch(now)

    # -- outputs

    def data_to_send(self, now: float) -> list[str]:
        """Text frames to write now, pings first, within the client message rate limit."""
        out: list[str] = []
        if self.state not in _WELCOMED:
            return out
        if self._ping_due is not None and self._limiter.try_acquire(now):
            out.append(f'{{"id":"{self._ping_due}","type":"ping"}}')
            self._awaited_pong, self._ping_due = self._ping_due, None
            if self._pong_deadline is None:
                self._pong_deadline = now + self._ping_timeout_s
        while self._queue and now >= self._throttled_until and self._limiter.try_acquire(now):
            request = self._queue.popleft()
            self.tracker.sent(request)
            out.append(request.to_json())
        return out

    def signals(self) -> list[Signal]:
        """Decisions taken since the last call, oldest first."""
        signals, self._signals = self._signals, []
        return signals

    def next_deadline(self) -> float | None:
        """When :meth:`advance` or :meth:`data_to_send` next has work, so the caller knows when to wake up."""
        if self.state is State.CLOSED:
            return None
        deadlines = [self._rotate_at]
        if self.state is State.AWAITING_WELCOME:
            deadlines.append(self._welcome_deadline)
        elif self.state in _WELCOMED:
            deadlines += [self._next_ping_at, self._pong_deadline, self._next_watchdog_at]
            if self._ping_due is not None or self._queue:
                resume = max(self._throttled_until, self._limiter.next_allowed(self._throttled_until))
                deadlines.append(resume)
        return min((d for d in deadlines if d is not None), default=None)

    # -- internals

    def _move(self, target: State) -> None:
        if target not in _TRANSITIONS[self.state]:
            raise IllegalTransition(f"{self.state.name} -> {target.name} is not allowed")
        self.state = target

    def _fail(self, signal: Reconnect) -> None:
        self._signals.append(signal)
        if self.state in _LIVE:
            self._move(State.CLOSING)

    def _on_welcome(self, event: Welcome, now: float) -> None:
        if self.state is not State.AWAITING_WELCOME:
            self._signals.append(Notice(f"unexpected welcome {event.id!r} in state {self.state.name}"))
            return
        self._move(State.SUBSCRIBING)
        self._next_ping_at = now + self._ping_interval_s
        self._next_watchdog_at = now + self.config.watchdog_period_s
        self._enqueue(Action.SUBSCRIBE, self._desired)
        self._check_subscribed()

    def _on_ack(self, event: Ack, now: float) -> None:
        request = self.tracker.ack(event.id)
        if request is not None and request.action is Action.SUBSCRIBE:
            for topic in request.topics:
                self._last_data.setdefault(topic, now)
        self._check_subscribed()

    def _on_error(self, event: ErrorFrame, now: float) -> None:
        request = self.tracker.pending.get(event.id) if event.id is not None else None
        if event.code == 401:
            self._fail(Reconnect(f"401 {event.data}", event.code))
        elif event.code == 400 and "ping timeout" in event.data:
            self._fail(Reconnect(f"400 {event.data}", event.code))
        elif event.code == 509:
            self._throttled_until = now + self.config.throttle_s
            if request is not None:
                self._retry(request, f"509 {event.data}")
        elif request is not None and event.code in (400, 404):
            self.tracker.reject(request.id, f"{event.code} {event.data}")
            self._signals += [TopicFailed(topic, f"{event.code} {event.data}") for topic in request.topics]
        else:
            self._signals.append(Notice(f"error frame {event.code} {event.data!r} (id {event.id!r})"))
        self._check_subscribed()

    def _retry(self, request: Request, reason: str) -> None:
        """Resend refused topics in halves (fewer topics per message, and one more try) after the throttle."""
        if request.attempt >= self.config.max_attempts:
            self.tracker.reject(request.id, reason)
            self._signals += [TopicFailed(topic, reason) for topic in request.topics]
            return
        self.tracker.withdraw(request.id)
        half = max(1, (len(request.symbols) + 1) // 2)
        retries = build_requests(
            request.action, request.topics, self._ids, max_topics=half, attempt=request.attempt + 1
        )
        self._queue.extendleft(reversed(retries))

    def _enqueue(self, action: Action, topics: Iterable[Topic]) -> None:
        self._queue.extend(build_requests(action, topics, self._ids, max_topics=self.config.max_topics_per_message))

    def _check_subscribed(self) -> None:
        if self.state is State.SUBSCRIBING and not self._queue and not self.tracker.pending:
            self._move(State.STREAMING)

    def _watch(self, now: float) -> None:
        limit = now - self.config.silence_timeout_s
        for topic in sorted(self.tracker.confirmed):
            since = self._last_data.get(topic, now)
            if since <= limit:
                self._signals.append(TopicSilent(topic, since))
                self._last_data[topic] = now
        self._next_watchdog_at = now + self.config.watchdog_period_s
