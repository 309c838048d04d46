"""Topic names, subscribe messages, sharding and ack tracking."""

from __future__ import annotations

import json

import pytest

from producers.kucoin.subscriptions import (
    MAX_TOPICS_PER_MESSAGE,
    Action,
    Request,
    SubscriptionTracker,
    build_requests,
    counter_ids,
    diff_topics,
    reshard,
    topics_for,
)
from producers.kucoin.topics import Stream, Topic, topic_name

T = Stream.TICKER_V2
D = Stream.DEPTH50


def test_topic_names() -> None:
    assert str(Topic(T, "XBTUSDTM")) == "/contractMarket/tickerV2:XBTUSDTM"
    assert str(Topic(D, "XBTUSDTM")) == "/contractMarket/level2Depth50:XBTUSDTM"
    assert topic_name(T, ["A", "B"]) == "/contractMarket/tickerV2:A,B"


def test_request_json() -> None:
    request = Request("17", Action.UNSUBSCRIBE, T, ("A", "B"))
    assert json.loads(request.to_json()) == {
        "id": "17",
        "type": "unsubscribe",
        "topic": "/contractMarket/tickerV2:A,B",
        "privateChannel": False,
        "response": True,
    }
    assert request.topics == (Topic(T, "A"), Topic(T, "B"))


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250, 673])
def test_requests_hold_at_most_100_topics(count: int) -> None:
    symbols = [f"S{i:04}USDTM" for i in range(count)]
    requests = build_requests(Action.SUBSCRIBE, topics_for(symbols, [T, D]), counter_ids())
    assert all(len(r.symbols) <= MAX_TOPICS_PER_MESSAGE for r in requests)
    assert all(json.loads(r.to_json())["topic"].count(",") < MAX_TOPICS_PER_MESSAGE for r in requests)
    assert sorted(t for r in requests for t in r.topics) == sorted(topics_for(symbols, [T, D]))
    assert len(requests) == 2 * -(-count // 100)
    assert len({r.id for r in requests}) == len(requests)


def test_requests_are_sorted_and_deduplicated() -> None:
    topics = [Topic(T, "B"), Topic(T, "A"), Topic(T, "B")]
    (request,) = build_requests(Action.SUBSCRIBE, topics, counter_ids("x"))
    assert (request.id, request.symbols) == ("x1", ("A", "B"))


@pytest.mark.parametrize("max_topics", [0, 101])
def test_max_topics_is_bounded(max_topics: int) -> None:
    with pytest.raises(ValueError):
        build_requests(Action.SUBSCRIBE, [Topic(T, "A")], counter_ids(), max_topics=max_topics)


def test_initial_shards() -> None:
    desired = topics_for([f"S{i:03}" for i in range(120)], [T, D])
    shards = reshard((), desired)
    assert [len(s) for s in shards] == [100, 100, 40]
    assert frozenset().union(*shards) == desired
    assert all({t.symbol for t in s} == {t.symbol for t in s if Topic(T, t.symbol) in s} for s in shards)


def test_reshard_keeps_assignments_and_fills_free_room() -> None:
    symbols = [f"S{i:03}" for i in range(120)]
    shards = reshard((), topics_for(symbols, [T]), capacity=50)
    assert [len(s) for s in shards] == [50, 50, 20]
    delisted, listed = {"S010", "S060"}, {"NEW1", "NEW2", "NEW3"}
    desired = topics_for((set(symbols) - delisted) | listed, [T])
    again = reshard(shards, desired, capacity=50)
    for before, after in zip(shards, again, strict=False):
        assert before - after <= topics_for(delisted, [T])
    assert frozenset().union(*again) == desired
    assert all(len(s) <= 50 for s in again)
    assert len(again) == 3


def test_reshard_keeps_emptied_shards_in_place() -> None:
    shards = reshard((), topics_for(["A", "B", "C"], [T]), capacity=1)
    again = reshard(shards, topics_for(["A", "C"], [T]), capacity=1)
    assert again == (frozenset({Topic(T, "A")}), frozenset(), frozenset({Topic(T, "C")}))
    refill = reshard(again, topics_for(["A", "C", "D"], [T]), capacity=1)
    assert refill[1] == frozenset({Topic(T, "D")})


def test_reshard_rejects_overfull_input_and_zero_capacity() -> None:
    with pytest.raises(ValueError):
        reshard([topics_for(["A", "B"], [T])], topics_for(["A", "B"], [T]), capacity=1)
    with pytest.raises(ValueError):
        reshard((), set(), capacity=0)


def test_diff() -> None:
    current = topics_for(["A", "B"], [T])
    change = diff_topics(current, topics_for(["B", "C"], [T]))
    assert change.subscribe == {Topic(T, "C")}
    assert change.unsubscribe == {Topic(T, "A")}


def test_tracker() -> None:
    tracker = SubscriptionTracker()
    sub = Request("1", Action.SUBSCRIBE, T, ("A", "B"))
    bad = Request("2", Action.SUBSCRIBE, D, ("X",))
    tracker.sent(sub)
    tracker.sent(bad)
    assert tracker.ack("nope") is None
    assert tracker.ack("1") == sub
    assert tracker.confirmed == {Topic(T, "A"), Topic(T, "B")}
    assert tracker.reject("2", "404 topic does not exist") == bad
    assert tracker.failed == {Topic(D, "X"): "404 topic does not exist"}
    assert tracker.pending == {}
    unsub = Request("3", Action.UNSUBSCRIBE, T, ("A",))
    tracker.sent(unsub)
    tracker.ack("3")
    assert tracker.confirmed == {Topic(T, "B")}
    retry = Request("4", Action.SUBSCRIBE, D, ("X",))
    tracker.sent(retry)
    assert tracker.withdraw("4") == retry
    tracker.sent(retry)
    tracker.ack("4")
    assert tracker.failed == {}
