"""The WebSocket protocol core without a socket: client text in, reply frames and subscriptions out."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from ops.fake_exchange import SessionLimits, Subscription
from ops.fake_exchange.ratelimit import FixedWindow, WeightBudget
from ops.fake_exchange.session import Session
from ops.fake_exchange.tokens import TokenRegistry


def session(**limits: Any) -> Session:
    return Session("conn-1", SessionLimits(**limits), random.Random(1), last_message_s=0.0)


def replies(s: Session, message: object, now_s: float = 1.0) -> list[dict[str, Any]]:
    text = message if isinstance(message, str) else json.dumps(message)
    return [json.loads(r.text) for r in s.on_text(text, now_s, 1_790_000_000_000_123)]


def sub(topic: str, request_id: object = "1", response: bool = True, kind: str = "subscribe") -> dict[str, Any]:
    return {"id": request_id, "type": kind, "topic": topic, "privateChannel": False, "response": response}


def test_subscribe_acks_with_the_id_as_a_string() -> None:
    s = session()
    assert replies(s, sub("/contractMarket/tickerV2:XBTUSDTM", 1545910660739)) == [
        {"id": "1545910660739", "type": "ack"}
    ]
    assert list(s.subscriptions) == [Subscription("tickerV2", "XBTUSDTM")]


def test_no_ack_without_response_true() -> None:
    s = session()
    assert replies(s, sub("/contractMarket/tickerV2:XBTUSDTM", response=False)) == []
    assert Subscription("tickerV2", "XBTUSDTM") in s.subscriptions


def test_comma_joined_symbols_become_single_symbol_streams() -> None:
    s = session()
    replies(s, sub("/contractMarket/level2Depth50:XBTUSDTM,ETHUSDTM"))
    assert [x.topic for x in s.subscriptions] == [
        "/contractMarket/level2Depth50:XBTUSDTM",
        "/contractMarket/level2Depth50:ETHUSDTM",
    ]


def test_subscribing_twice_acks_twice_and_keeps_one_stream() -> None:
    s = session()
    for _ in range(2):
        assert replies(s, sub("/contractMarket/tickerV2:XBTUSDTM")) == [{"id": "1", "type": "ack"}]
    assert len(s.subscriptions) == 1


def test_unsubscribe_acks_and_removes() -> None:
    s = session()
    replies(s, sub("/contractMarket/tickerV2:XBTUSDTM,ETHUSDTM"))
    assert replies(s, sub("/contractMarket/tickerV2:XBTUSDTM", "2", kind="unsubscribe")) == [{"id": "2", "type": "ack"}]
    assert list(s.subscriptions) == [Subscription("tickerV2", "ETHUSDTM")]


def test_more_than_100_topics_in_one_message_is_error_509() -> None:
    s = session()
    symbols = ",".join(f"S{i}USDTM" for i in range(101))
    assert replies(s, sub(f"/contractMarket/tickerV2:{symbols}", "9")) == [
        {"id": "9", "type": "error", "code": 509, "data": "exceed max subscription count limitation of 100 per time"}
    ]
    assert not s.subscriptions
    replies(s, sub("/contractMarket/tickerV2:" + ",".join(f"S{i}USDTM" for i in range(100))))
    assert len(s.subscriptions) == 100


@pytest.mark.parametrize("topic", ["/contractMarket/level2Depth20:XBTUSDTM", "/contractMarket/level2:XBTUSDTM", "/x:Y"])
def test_unknown_topic_is_error_404(topic: str) -> None:
    assert replies(session(), sub(topic, "p28")) == [
        {"id": "p28", "type": "error", "code": 404, "data": "topic does not exist"}
    ]


@pytest.mark.parametrize(
    "topic",
    [
        "/contractMarket/tickerV2",
        "/contractMarket/tickerV2:",
        "/contractMarket/tickerV2:A,,B",
        "/contractMarket/limitCandle:XBTUSDTM_2min",
        42,
    ],
)
def test_malformed_topic_is_error_400(topic: object) -> None:
    assert replies(session(), sub(topic, "7")) == [  # type: ignore[arg-type]
        {"id": "7", "type": "error", "code": 400, "data": "topic is invalid"}
    ]


def test_unknown_symbol_is_acked_like_any_other() -> None:
    s = session()
    assert replies(s, sub("/contractMarket/tickerV2:NOPEUSDTM", "p27")) == [{"id": "p27", "type": "ack"}]


def test_ping_gets_a_pong_with_a_microsecond_timestamp() -> None:
    assert replies(session(), {"id": "p16", "type": "ping"}) == [
        {"id": "p16", "type": "pong", "timestamp": 1_790_000_000_000_123}
    ]


def test_non_json_text_is_error_400_with_a_random_id() -> None:
    s = session()
    first, second = replies(s, "hello there"), replies(s, "hello")
    assert first[0]["type"] == "error" and first[0]["code"] == 400
    assert first[0]["data"].startswith("Unrecognized token 'hello'")
    assert len(first[0]["id"]) == 24 and first[0]["id"] != second[0]["id"]


def test_more_than_100_messages_in_10_seconds_is_error_509() -> None:
    s = session()
    for i in range(100):
        assert replies(s, {"id": str(i), "type": "ping"}, now_s=1.0 + i * 0.01)[0]["type"] == "pong"
    assert replies(s, {"id": "x", "type": "ping"}, now_s=2.5) == [
        {"id": "x", "type": "error", "code": 509, "data": "exceed max permits per second"}
    ]
    assert replies(s, {"id": "y", "type": "ping"}, now_s=11.1)[0]["type"] == "pong"


def test_every_message_resets_the_idle_timer() -> None:
    s = session()
    assert s.idle_for(5.0) == 5.0
    replies(s, "junk", now_s=4.0)
    assert s.idle_for(5.0) == 1.0


def test_unknown_message_type_is_an_error_not_a_crash() -> None:
    assert replies(session(), {"id": "1", "type": "hello"})[0]["code"] == 400


def test_rest_weight_window_refills_after_its_period() -> None:
    budget = WeightBudget(10, 30.0)
    assert budget.charge("ip", 6, 0.0).remaining == 4
    refused = budget.charge("ip", 6, 1.0)
    assert not refused.allowed and refused.remaining == 4 and refused.reset_ms == 29_000
    assert budget.charge("other", 6, 1.0).allowed
    assert budget.charge("ip", 6, 30.0).allowed
    assert FixedWindow(1, 1.0).charge(2, 0.0).allowed is False


def test_tokens_are_invalid_unknown_and_expire_after_their_lifetime() -> None:
    tokens = TokenRegistry(1000, random.Random(1))
    token = tokens.issue(0)
    assert tokens.check(token, 999) == "ok"
    assert tokens.check(token, 1000) == "expired"
    assert tokens.check("nope", 0) == "invalid"
    fresh = tokens.issue(5)
    tokens.expire_all(6)
    assert tokens.check(fresh, 6) == "expired"
