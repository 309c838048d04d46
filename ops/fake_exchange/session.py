"""The server side of one KuCoin WebSocket connection, without I/O: client text in, replies and state out.

It knows the subscription rules (comma-joined symbols, at most 100 topics per message, 404 for unknown topics,
ack only when ``response`` is true, unknown symbols acked then silent), ping/pong, the per-connection message
limit and the idle rule. Time (real seconds and fake microseconds) and randomness are arguments.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Literal

from ops.fake_exchange.frames import ack_frame, error_frame, pong_frame
from ops.fake_exchange.model import CANDLE_TYPES
from ops.fake_exchange.ratelimit import FixedWindow

__all__ = ["CHANNELS", "Reply", "Session", "SessionLimits", "Subscription", "parse_topic"]

TOPIC_ROOT = "/contractMarket/"
CHANNELS: frozenset[str] = frozenset({"tickerV2", "level2Depth50", "level2Depth5", "limitCandle"})


@dataclass(frozen=True, slots=True)
class Subscription:
    """One single-symbol stream: ``channel`` (``tickerV2``) and ``arg`` (``XBTUSDTM`` or ``XBTUSDTM_1min``)."""

    channel: str
    arg: str

    @property
    def topic(self) -> str:
        """The topic every push of this stream carries (``channel`` is a full prefix for played-back topics)."""
        root = "" if self.channel.startswith("/") else TOPIC_ROOT
        return f"{root}{self.channel}:{self.arg}"

    @property
    def symbol(self) -> str:
        """The contract symbol (``arg`` without a candle type)."""
        return self.arg.rsplit("_", 1)[0] if self.channel == "limitCandle" else self.arg


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Per-connection protocol limits (real values by default)."""

    max_topics_per_message: int = 100
    max_messages: int = 100
    message_window_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Reply:
    """A control frame to send; ``kind`` lets the adapter withhold pongs when a fault says so."""

    kind: Literal["ack", "pong", "error"]
    text: str


class TopicError(Exception):
    """A subscribe topic the server rejects, with the error frame's code and text."""

    def __init__(self, code: int, data: str) -> None:
        super().__init__(data)
        self.code = code
        self.data = data


def parse_topic(topic: object, extra_topics: frozenset[str] = frozenset()) -> list[Subscription]:
    """The single-symbol streams of a (possibly comma-joined) subscribe topic.

    Raises :class:`TopicError` 400 for a malformed topic and 404 for an unknown channel. ``extra_topics`` are
    full single-symbol topics accepted as they are (captures played back).
    """
    if not isinstance(topic, str) or ":" not in topic:
        raise TopicError(400, "topic is invalid")
    prefix, _, args = topic.partition(":")
    parts = args.split(",")
    if any(not part for part in parts):
        raise TopicError(400, "topic is invalid")
    channel = prefix.removeprefix(TOPIC_ROOT)
    if prefix.startswith(TOPIC_ROOT) and channel in CHANNELS:
        if channel == "limitCandle" and any(p.rpartition("_")[2] not in CANDLE_TYPES for p in parts):
            raise TopicError(400, "topic is invalid")
        return [Subscription(channel, part) for part in parts]
    if all(f"{prefix}:{part}" in extra_topics for part in parts):
        return [Subscription(channel, part) for part in parts]
    raise TopicError(404, "topic does not exist")


@dataclass
class Session:
    """Subscription state and control replies of one connection."""

    connect_id: str
    limits: SessionLimits
    rng: random.Random
    last_message_s: float
    extra_topics: frozenset[str] = frozenset()
    subscriptions: dict[Subscription, None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._window = FixedWindow(self.limits.max_messages, self.limits.message_window_s)

    def idle_for(self, now_s: float) -> float:
        """Real seconds since the last client message."""
        return now_s - self.last_message_s

    def on_text(self, text: str, now_s: float, now_us: int) -> list[Reply]:
        """Handle one client text message; returns the frames to send back."""
        self.last_message_s = now_s
        try:
            message = json.loads(text)
        except ValueError:
            return [Reply("error", error_frame(self._random_id(), 400, _unrecognized(text)))]
        if not isinstance(message, dict):
            return [Reply("error", error_frame(self._random_id(), 400, "message is invalid"))]
        raw_id = message.get("id")
        request_id = "" if raw_id is None else str(raw_id)
        if not self._window.charge(1, now_s).allowed:
            return [Reply("error", error_frame(request_id or self.connect_id, 509, "exceed max permits per second"))]
        kind = message.get("type")
        if kind == "ping":
            return [Reply("pong", pong_frame(request_id, now_us))]
        if kind in ("subscribe", "unsubscribe"):
            return self._subscription(message, request_id, subscribe=kind == "subscribe")
        return [Reply("error", error_frame(request_id or self.connect_id, 400, "type is invalid"))]

    def _subscription(self, message: dict[str, object], request_id: str, *, subscribe: bool) -> list[Reply]:
        try:
            streams = parse_topic(message.get("topic"), self.extra_topics)
        except TopicError as exc:
            return [Reply("error", error_frame(request_id, exc.code, exc.data))]
        if len(streams) > self.limits.max_topics_per_message:
            limit = self.limits.max_topics_per_message
            return [
                Reply(
                    "error",
                    error_frame(request_id, 509, f"exceed max subscription count limitation of {limit} per time"),
                )
            ]
        for stream in streams:
            if subscribe:
                self.subscriptions[stream] = None
            else:
                self.subscriptions.pop(stream, None)
        return [Reply("ack", ack_frame(request_id))] if message.get("response") is True else []

    def _random_id(self) -> str:
        return f"{self.rng.getrandbits(96):024x}"


def _unrecognized(text: str) -> str:
    token = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    return (
        f"Unrecognized token '{token[:64]}': was expecting "
        "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
    )
