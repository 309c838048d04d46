"""Connection state machine: transitions, timers, error frames, rate limit, all with ``now`` passed in."""

from __future__ import annotations

import json

import pytest

from producers.kucoin.exceptions import IllegalTransition
from producers.kucoin.frames import Malformed
from producers.kucoin.rest import InstanceServer
from producers.kucoin.session import (
    Notice,
    OpenReplacement,
    Reconnect,
    Session,
    SessionConfig,
    State,
    TopicFailed,
    TopicSilent,
)
from producers.kucoin.subscriptions import counter_ids
from producers.kucoin.topics import Stream, Topic
from schemas.records import TickerV2

SERVER = InstanceServer("wss://ws-api-futures.kucoin.com/", ping_interval_ms=18000, ping_timeout_ms=10000)
A = Topic(Stream.TICKER_V2, "A")
B = Topic(Stream.TICKER_V2, "B")
BOOK_A = Topic(Stream.DEPTH50, "A")
PUBLIC = {"privateChannel": False, "response": True}


def ticker(symbol: str, sequence: int) -> bytes:
    return json.dumps(
        {
            "topic": f"/contractMarket/tickerV2:{symbol}",
            "type": "message",
            "data": {
                "symbol": symbol,
                "sequence": sequence,
                "bestBidSize": 1,
                "bestBidPrice": "1.0",
                "bestAskPrice": "1.1",
                "bestAskSize": 2,
                "ts": 1731665526461000000,
            },
        }
    ).encode()


def state(s: Session) -> State:
    """Read the state through a call, so mypy does not keep a narrowing across moves."""
    return s.state


def session(*topics: Topic, config: SessionConfig | None = None, issued: float = 0.0) -> Session:
    return Session(
        connect_id="c1",
        server=SERVER,
        topics=topics,
        token_issued_at=issued,
        config=config or SessionConfig(),
        ids=counter_ids("r"),
    )


def streaming(*topics: Topic, config: SessionConfig | None = None) -> Session:
    s = session(*topics, config=config)
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.1, 1)
    sent = s.data_to_send(0.1)
    for frame in sent:
        s.receive(json.dumps({"id": json.loads(frame)["id"], "type": "ack"}).encode(), 0.2, 1)
    assert state(s) is State.STREAMING
    return s


def test_happy_path_states_and_subscribe_message() -> None:
    s = session(A, B, BOOK_A)
    assert state(s) is State.CONNECTING
    assert s.data_to_send(0.0) == []
    s.opened(0.0)
    assert state(s) is State.AWAITING_WELCOME
    assert s.data_to_send(0.0) == []
    s.receive(b'{"id":"c1","type":"welcome"}', 0.5, 1)
    assert state(s) is State.SUBSCRIBING
    sent = [json.loads(frame) for frame in s.data_to_send(0.5)]
    assert sent == [
        {
            "id": "r1",
            "type": "subscribe",
            "topic": "/contractMarket/level2Depth50:A",
            "privateChannel": False,
            "response": True,
        },
        {
            "id": "r2",
            "type": "subscribe",
            "topic": "/contractMarket/tickerV2:A,B",
            "privateChannel": False,
            "response": True,
        },
    ]
    s.receive(b'{"id":"r1","type":"ack"}', 0.6, 1)
    assert state(s) is State.SUBSCRIBING
    s.receive(b'{"id":"r2","type":"ack"}', 0.6, 1)
    assert state(s) is State.STREAMING
    assert s.tracker.confirmed == {A, B, BOOK_A}
    assert s.signals() == []


def test_no_topics_streams_right_after_welcome() -> None:
    s = session()
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.1, 1)
    assert state(s) is State.STREAMING


def test_market_data_is_returned_to_the_caller() -> None:
    s = streaming(A)
    event = s.receive(ticker("A", 5), 1.0, 42)
    assert isinstance(event, TickerV2)
    assert event.receive_ts_ns == 42
    assert isinstance(s.receive(b"garbage", 1.0, 1), Malformed)


@pytest.mark.parametrize(
    ("setup", "move"),
    [
        ("connecting", "welcome"),
        ("connecting", "receive"),
        ("streaming", "opened"),
        ("closed", "opened"),
        ("closed", "close"),
        ("closed", "receive"),
        ("closing", "close"),
    ],
)
def test_illegal_moves_raise(setup: str, move: str) -> None:
    s = streaming(A) if setup != "connecting" else session(A)
    if setup == "closing":
        s.close("test")
    elif setup == "closed":
        s.closed()
    with pytest.raises(IllegalTransition):
        if move == "opened":
            s.opened(1.0)
        elif move == "close":
            s.close("again")
        else:
            s.receive(b'{"id":"c1","type":"welcome"}', 1.0, 1)


def test_close_then_closed() -> None:
    s = streaming(A)
    s.close("rotation handover done")
    assert state(s) is State.CLOSING
    assert s.data_to_send(1.0) == []
    s.receive(ticker("A", 9), 1.0, 1)  # frames in flight are still parsed
    s.closed()
    assert state(s) is State.CLOSED
    assert s.next_deadline() is None
    s.closed()  # idempotent: the socket can only go away once


def test_welcome_timeout_reconnects() -> None:
    s = session(A)
    s.opened(10.0)
    assert s.next_deadline() == 15.0
    s.advance(14.9)
    assert s.signals() == []
    s.advance(15.0)
    assert s.signals() == [Reconnect("no welcome within 5 s")]
    assert state(s) is State.CLOSING


def test_unexpected_second_welcome_is_a_notice() -> None:
    s = streaming(A)
    s.receive(b'{"id":"c1","type":"welcome"}', 1.0, 1)
    assert state(s) is State.STREAMING
    assert isinstance(s.signals()[0], Notice)


def test_ping_every_interval_from_the_bullet_and_pong_clears_the_deadline() -> None:
    s = streaming(A)  # welcome at 0.1
    assert s.next_deadline() == pytest.approx(5.1)  # the watchdog comes first
    s.advance(18.0)
    assert s.data_to_send(18.0) == []
    s.advance(18.1)
    sent = s.data_to_send(18.1)
    assert sent == ['{"id":"r2","type":"ping"}']
    assert s.next_deadline() == pytest.approx(23.0)  # watchdog (ran at 18.0); pong deadline 28.1, ping 36.1
    s.receive(b'{"id":"r2","type":"pong","timestamp":1790113097236506}', 18.3, 1)
    s.advance(30.0)
    assert state(s) is State.STREAMING
    s.advance(36.1)
    assert s.data_to_send(36.1) == ['{"id":"r3","type":"ping"}']


def test_ping_interval_is_not_hard_coded() -> None:
    s = Session(
        connect_id="c1",
        server=InstanceServer("wss://x/", ping_interval_ms=50000, ping_timeout_ms=10000),
        topics=(),
        token_issued_at=0.0,
        ids=counter_ids(),
    )
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.0, 1)
    s.advance(49.9)
    assert s.data_to_send(49.9) == []
    s.advance(50.0)
    assert s.data_to_send(50.0) == ['{"id":"1","type":"ping"}']


def test_missing_pong_reconnects() -> None:
    s = streaming(A)
    s.advance(18.1)
    s.data_to_send(18.1)
    s.receive(b'{"id":"someone-else","type":"pong"}', 19.0, 1)
    s.advance(28.0)
    assert state(s) is State.STREAMING
    s.advance(28.1)
    assert s.signals() == [Reconnect("no pong within 10 s")]
    assert state(s) is State.CLOSING


@pytest.mark.parametrize(
    ("frame", "signal"),
    [
        (b'{"id":"c1","type":"error","code":401,"data":"token is expired"}', Reconnect("401 token is expired", 401)),
        (b'{"type":"error","code":400,"data":"ping timeout"}', Reconnect("400 ping timeout", 400)),
    ],
)
def test_fatal_error_frames_reconnect(frame: bytes, signal: Reconnect) -> None:
    s = streaming(A)
    s.receive(frame, 1.0, 1)
    assert s.signals() == [signal]
    assert state(s) is State.CLOSING


def test_401_before_welcome_reconnects() -> None:
    s = session(A)
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"error","code":401,"data":"token is invalid"}', 0.1, 1)
    assert state(s) is State.CLOSING


@pytest.mark.parametrize("code", [404, 400])
def test_refused_topic_fails_and_the_rest_streams(code: int) -> None:
    s = session(A, BOOK_A)
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.0, 1)
    s.data_to_send(0.0)
    s.receive(b'{"id":"r1","type":"ack"}', 0.1, 1)
    s.receive(f'{{"id":"r2","type":"error","code":{code},"data":"topic does not exist"}}'.encode(), 0.1, 1)
    assert s.signals() == [TopicFailed(A, f"{code} topic does not exist")]
    assert state(s) is State.STREAMING
    assert s.tracker.confirmed == {BOOK_A}
    assert s.tracker.failed == {A: f"{code} topic does not exist"}


def test_other_400_is_only_logged() -> None:
    s = streaming(A)
    s.receive(b'{"id":"zzz","type":"error","code":400,"data":"Unrecognized token"}', 1.0, 1)
    assert s.signals() == [Notice("error frame 400 'Unrecognized token' (id 'zzz')")]
    assert state(s) is State.STREAMING


def test_509_throttles_and_resends_in_halves() -> None:
    topics = [Topic(Stream.TICKER_V2, f"S{i:02}") for i in range(10)]
    s = session(*topics, config=SessionConfig(throttle_s=2.0))
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.0, 1)
    assert len(s.data_to_send(0.0)) == 1
    s.receive(b'{"id":"r1","type":"error","code":509,"data":"exceed max permits per second"}', 0.5, 1)
    assert state(s) is State.SUBSCRIBING
    assert s.data_to_send(1.0) == []
    assert s.next_deadline() == 2.5
    retries = [json.loads(frame) for frame in s.data_to_send(2.5)]
    assert [r["topic"].count(",") + 1 for r in retries] == [5, 5]
    for retry in retries:
        s.receive(json.dumps({"id": retry["id"], "type": "ack"}).encode(), 3.0, 1)
    assert state(s) is State.STREAMING
    assert s.tracker.confirmed == set(topics)


def test_509_gives_up_after_max_attempts() -> None:
    s = session(A, config=SessionConfig(max_attempts=2, throttle_s=0.0))
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.0, 1)
    s.data_to_send(0.0)
    s.receive(b'{"id":"r1","type":"error","code":509,"data":"x"}', 0.1, 1)
    assert json.loads(s.data_to_send(0.2)[0])["id"] == "r2"
    s.receive(b'{"id":"r2","type":"error","code":509,"data":"x"}', 0.3, 1)
    assert s.signals() == [TopicFailed(A, "509 x")]
    assert state(s) is State.STREAMING


def test_rate_limit_spreads_subscriptions_over_the_window() -> None:
    topics = [Topic(Stream.TICKER_V2, f"S{i:03}") for i in range(12)]
    config = SessionConfig(max_messages=5, message_window_s=10.0, max_topics_per_message=1)
    s = session(*topics, config=config)
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.0, 1)
    assert len(s.data_to_send(0.0)) == 5
    assert s.data_to_send(9.9) == []
    assert s.next_deadline() == 5.0  # the watchdog; the limiter frees up at 10.0
    assert len(s.data_to_send(10.0)) == 5
    assert len(s.data_to_send(20.0)) == 2


def test_pings_go_before_queued_subscriptions() -> None:
    topics = [Topic(Stream.TICKER_V2, f"S{i:03}") for i in range(3)]
    s = session(*topics, config=SessionConfig(max_messages=1, max_topics_per_message=1))
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.0, 1)
    s.data_to_send(0.0)
    s.advance(18.0)
    assert s.data_to_send(18.0) == ['{"id":"r4","type":"ping"}']


def test_watchdog_reports_silent_acked_topics() -> None:
    s = streaming(A, B, config=SessionConfig(silence_timeout_s=30.0, watchdog_period_s=5.0))
    for now in range(5, 30, 5):
        s.receive(ticker("A", now), float(now), 1)
        s.advance(now + 0.1)
    assert s.signals() == []
    s.receive(ticker("A", 30), 30.0, 1)
    s.advance(30.1)  # B was acked at 0.2: silent for 29.9 s only
    assert s.signals() == []
    s.advance(35.0)  # before the next watchdog run
    assert s.signals() == []
    s.advance(35.1)
    assert s.signals() == [TopicSilent(B, 0.2)]
    for later in (40.1, 45.1, 50.1, 55.1):
        s.advance(later)
    assert s.signals() == []
    s.advance(60.1)
    assert s.signals() == [TopicSilent(A, 30.0)]
    s.advance(65.1)
    s.advance(70.1)
    assert s.signals() == [TopicSilent(B, 35.1)]


def test_token_rotation_asks_for_a_replacement_once() -> None:
    s = session(A, issued=100.0)
    s.opened(100.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 100.0, 1)
    rotate_at = 100.0 + 23 * 3600
    s.advance(rotate_at - 0.001)
    assert not any(isinstance(x, OpenReplacement) for x in s.signals())
    s.advance(rotate_at)
    assert s.signals() == [OpenReplacement("token expires in less than 1 h")]
    s.advance(rotate_at + 100)
    assert not any(isinstance(x, OpenReplacement) for x in s.signals())
    assert state(s) is State.SUBSCRIBING


def test_next_deadline_is_the_earliest_timer() -> None:
    s = session(A, config=SessionConfig(rotate_after_s=3.0))
    assert s.next_deadline() == 3.0
    s.opened(0.0)
    assert s.next_deadline() == 3.0
    s.advance(3.0)
    assert s.next_deadline() == 5.0


def test_set_topics_before_and_after_welcome() -> None:
    s = session(A)
    s.set_topics({A, B})
    s.opened(0.0)
    s.receive(b'{"id":"c1","type":"welcome"}', 0.0, 1)
    assert json.loads(s.data_to_send(0.0)[0])["topic"] == "/contractMarket/tickerV2:A,B"
    s.receive(b'{"id":"r1","type":"ack"}', 0.1, 1)
    s.set_topics({B, BOOK_A})
    sent = [json.loads(frame) for frame in s.data_to_send(1.0)]
    assert [(m["type"], m["topic"]) for m in sent] == [
        ("unsubscribe", "/contractMarket/tickerV2:A"),
        ("subscribe", "/contractMarket/level2Depth50:A"),
    ]
    for message in sent:
        s.receive(json.dumps({"id": message["id"], "type": "ack"}).encode(), 1.1, 1)
    assert s.tracker.confirmed == {B, BOOK_A}


def test_fatal_error_while_closing_is_reported_without_a_second_move() -> None:
    s = streaming(A)
    s.close("shutdown")
    s.receive(b'{"type":"error","code":400,"data":"ping timeout"}', 1.0, 1)
    assert state(s) is State.CLOSING
    assert s.signals()[-1] == Reconnect("400 ping timeout", 400)
