"""Which topics go on which connection, the subscribe/unsubscribe messages, and their acks.

Limits: at most 100 topics in one subscribe message (more gives error 509, each comma-joined symbol counts)
and, conservatively, at most 100 topics per connection. Sharding keeps existing assignments when the symbol
set changes, so a new listing or a delisting touches one connection instead of reshuffling all of them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from enum import StrEnum

from .topics import Stream, Topic, topic_name

__all__ = [
    "DEFAULT_TOPICS_PER_CONNECTION",
    "MAX_TOPICS_PER_MESSAGE",
    "Action",
    "Request",
    "SubscriptionTracker",
    "TopicDiff",
    "build_requests",
    "counter_ids",
    "diff_topics",
    "reshard",
    "topics_for",
]

MAX_TOPICS_PER_MESSAGE = 100
DEFAULT_TOPICS_PER_CONNECTION = 100


class Action(StrEnum):
    """The two request types that carry topics."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, slots=True)
class Request:
    """One subscribe or unsubscribe message: one stream, comma-joined symbols, acked by ``id``."""

    id: str
    action: Action
    stream: Stream
    symbols: tuple[str, ...]
    attempt: int = 1

    @property
    def topics(self) -> tuple[Topic, ...]:
        """The (stream, symbol) topics this message covers."""
        return tuple(Topic(self.stream, symbol) for symbol in self.symbols)

    def to_json(self) -> str:
        """The text frame; ``response: true`` so the server acks (or rejects) it by id."""
        return json.dumps(
            {
                "id": self.id,
                "type": self.action.value,
                "topic": topic_name(self.stream, self.symbols),
                "privateChannel": False,
                "response": True,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class TopicDiff:
    """What to change to get from the current topic set to the desired one."""

    subscribe: frozenset[Topic]
    unsubscribe: frozenset[Topic]


def counter_ids(prefix: str = "") -> Callable[[], str]:
    """Request ids ``prefix1``, ``prefix2``, ...: unique per connection, deterministic in tests."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def topics_for(symbols: Iterable[str], streams: Iterable[Stream]) -> frozenset[Topic]:
    """Every (stream, symbol) pair: the desired topic set for a symbol selection."""
    stream_list = tuple(streams)
    return frozenset(Topic(stream, symbol) for symbol in symbols for stream in stream_list)


def diff_topics(current: Set[Topic], desired: Set[Topic]) -> TopicDiff:
    """New listings to subscribe, delistings to unsubscribe."""
    return TopicDiff(frozenset(desired - current), frozenset(current - desired))


def build_requests(
    action: Action,
    topics: Iterable[Topic],
    ids: Callable[[], str],
    *,
    max_topics: int = MAX_TOPICS_PER_MESSAGE,
    attempt: int = 1,
) -> list[Request]:
    """Group topics by stream and chunk them into messages of at most ``max_topics`` symbols, sorted."""
    if not 1 <= max_topics <= MAX_TOPICS_PER_MESSAGE:
        raise ValueError(f"max_topics must be in 1..{MAX_TOPICS_PER_MESSAGE}")
    requests = []
    for stream, group in itertools.groupby(sorted(set(topics)), key=lambda topic: topic.stream):
        symbols = [topic.symbol for topic in group]
        for start in range(0, len(symbols), max_topics):
            chunk = tuple(symbols[start : start + max_topics])
            requests.append(Request(ids(), action, stream, chunk, attempt))
    return requests


def reshard(
    shards: Sequence[Set[Topic]], desired: Set[Topic], *, capacity: int = DEFAULT_TOPICS_PER_CONNECTION
) -> tuple[frozenset[Topic], ...]:
    """Assign ``desired`` to connections of at most ``capacity`` topics, moving no topic that stays.

    Topics that left ``desired`` are dropped from their shard, new ones fill free room in shard order (a
    symbol's streams side by side), then new shards are appended. Shard positions are stable, so position
    ``i`` is always connection ``i``; an emptied shard stays (empty) for the caller to close or refill.
    ``reshard((), topics)`` is the initial plan.
    """
    if capacity < 1:
        raise ValueError("capacity must be >= 1")
    kept = [set(shard) & desired for shard in shards]
    for shard in kept:
        if len(shard) > capacity:
            raise ValueError(f"a shard holds {len(shard)} topics, more than the capacity {capacity}")
    placed = set().union(*kept)
    pending = sorted(desired - placed, key=lambda topic: (topic.symbol, topic.stream))
    for shard in kept:
        room = capacity - len(shard)
        shard.update(pending[:room])
        del pending[:room]
    kept.extend(set(pending[start : start + capacity]) for start in range(0, len(pending), capacity))
    return tuple(frozenset(shard) for shard in kept)


@dataclass
class SubscriptionTracker:
    """Requests awaiting their ack, and the topics confirmed or refused so far, for one connection."""

    pending: dict[str, Request] = field(default_factory=dict)
    confirmed: set[Topic] = field(default_factory=set)
    failed: dict[Topic, str] = field(default_factory=dict)

    def sent(self, request: Request) -> None:
        """Remember a request until its ack or error arrives."""
        self.pending[request.id] = request

    def ack(self, request_id: str) -> Request | None:
        """Apply an ack; ``None`` for an id this connection never sent (e.g. an echoed topic string)."""
        request = self.pending.pop(request_id, None)
        if request is not None:
            if request.action is Action.SUBSCRIBE:
                self.confirmed.update(request.topics)
                for topic in request.topics:
                    self.failed.pop(topic, None)
            else:
                self.confirmed.difference_update(request.topics)
        return request

    def reject(self, request_id: str, reason: str) -> Request | None:
        """Apply a terminal error (404, 400, or 509 after the last retry) to the request's topics."""
        request = self.pending.pop(request_id, None)
        if request is not None and request.action is Action.SUBSCRIBE:
            for topic in request.topics:
                self.failed[topic] = reason
        return request

    def withdraw(self, request_id: str) -> Request | None:
        """Forget a request that will be retried under a new id (after a 509)."""
        return self.pending.pop(request_id, None)
