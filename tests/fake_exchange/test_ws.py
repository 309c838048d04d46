"""The WebSocket protocol over a real socket, driven by a plain websockets client."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from ops.fake_exchange import SessionLimits, Subscription
from tests.fake_exchange.helpers import START_MS, bullet, collect, connected, recv, running, send, subscribe, ws_url

START_NS = START_MS * 1_000_000


async def closed_with(ws: websockets.ClientConnection) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed) as info:
        await recv(ws)
    rcvd = info.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, None)


async def assert_silent(ws: websockets.ClientConnection, seconds: float = 0.15) -> None:
    with pytest.raises(TimeoutError):
        await recv(ws, seconds)


async def test_welcome_echoes_the_connect_id_and_deflate_is_accepted() -> None:
    async with running() as fx, connected(fx, "probebook") as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "") if ws.response else ""
        assert "permessage-deflate" in extensions


@pytest.mark.parametrize("token", ["", "not-a-token"])
async def test_unknown_token_is_401_token_is_invalid(token: str) -> None:
    async with running() as fx:
        data = await bullet(fx)
        data["token"] = token
        async with websockets.connect(ws_url(data, "abc")) as ws:
            assert json.loads(await recv(ws)) == {"id": "abc", "type": "error", "code": 401, "data": "token is invalid"}
            assert await closed_with(ws) == (1000, "Bye")


async def test_reusing_an_old_token_is_401_token_is_expired() -> None:
    async with running() as fx:
        data = await bullet(fx)
        fx.clock.advance(86_400_000)  # the default 24 h lifetime
        async with websockets.connect(ws_url(data, "old")) as ws:
            assert json.loads(await recv(ws)) == {"id": "old", "type": "error", "code": 401, "data": "token is expired"}


async def test_connection_is_closed_when_its_token_expires() -> None:
    async with running(token_lifetime_ms=60_000) as fx, connected(fx, "t") as ws:
        fx.clock.advance(60_000)
        assert json.loads(await recv(ws)) == {"id": "t", "type": "error", "code": 401, "data": "token is expired"}
        assert await closed_with(ws) == (1000, "Bye")


async def test_idle_socket_gets_ping_timeout_then_1000_bye() -> None:
    async with running(idle_timeout_s=0.3) as fx, connected(fx) as ws:
        assert await recv(ws) == '{"type":"error","code":400,"data":"ping timeout"}'
        assert await closed_with(ws) == (1000, "Bye")


async def test_idle_close_without_the_error_frame_when_configured() -> None:
    async with running(idle_timeout_s=0.2, idle_error_frame=False) as fx, connected(fx) as ws:
        assert await closed_with(ws) == (1000, "Bye")


async def test_pings_keep_the_socket_open_and_pong_carries_fake_microseconds() -> None:
    async with running(idle_timeout_s=0.4) as fx, connected(fx) as ws:
        for i in range(4):
            await asyncio.sleep(0.15)
            await send(ws, id=f"p{i}", type="ping")
            assert json.loads(await recv(ws)) == {"id": f"p{i}", "type": "pong", "timestamp": START_MS * 1000}


async def test_non_json_text_gets_error_400_and_the_socket_stays_open() -> None:
    async with running() as fx, connected(fx) as ws:
        await ws.send("hello")
        error = json.loads(await recv(ws))
        assert error["type"] == "error" and error["code"] == 400 and error["id"] != "test"
        await send(ws, id="after", type="ping")
        assert json.loads(await recv(ws))["type"] == "pong"


async def test_unknown_topic_is_404_and_too_many_topics_is_509() -> None:
    async with running() as fx, connected(fx) as ws:
        await send(ws, id="p28", type="subscribe", topic="/contractMarket/level2Depth20:XBTUSDTM", response=True)
        assert json.loads(await recv(ws)) == {"id": "p28", "type": "error", "code": 404, "data": "topic does not exist"}
        many = ",".join(c.symbol for c in fx.contracts) + "," + ",".join(f"X{i}USDTM" for i in range(90))
        await send(ws, id="m", type="subscribe", topic=f"/contractMarket/tickerV2:{many}", response=True)
        assert json.loads(await recv(ws))["code"] == 509


async def test_unknown_symbol_is_acked_then_silent() -> None:
    async with running() as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/tickerV2:NOPEUSDTM", "p27")
        fx.clock.advance(5_000)
        await assert_silent(ws, 0.2)


async def test_more_than_the_message_limit_gets_509() -> None:
    async with running(session_limits=SessionLimits(max_messages=3)) as fx, connected(fx) as ws:
        for i in range(3):
            await send(ws, id=str(i), type="ping")
            assert json.loads(await recv(ws))["type"] == "pong"
        await send(ws, id="4", type="ping")
        assert json.loads(await recv(ws)) == {
            "id": "4",
            "type": "error",
            "code": 509,
            "data": "exceed max permits per second",
        }


async def test_ticker_frames_have_the_real_shape() -> None:
    async with running() as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/tickerV2:XBTUSDTM,ETHUSDTM")
        fx.clock.advance(2_000)
        frames = await collect(ws, 10)
    for text in frames:
        frame = json.loads(text)
        assert list(frame) == ["topic", "type", "subject", "sn", "data"]
        data = frame["data"]
        assert list(data) == ["symbol", "sequence", "bestBidSize", "bestBidPrice", "bestAskPrice", "bestAskSize", "ts"]
        assert frame["topic"] == f"/contractMarket/tickerV2:{data['symbol']}"
        assert (frame["type"], frame["subject"]) == ("message", "tickerV2") and frame["sn"] == data["sequence"]
        assert isinstance(data["bestBidPrice"], str) and isinstance(data["bestBidSize"], int)
        assert START_NS < data["ts"] <= START_NS + 2_000_000_000 and data["ts"] > 2**53
    assert {json.loads(t)["data"]["symbol"] for t in frames} == {"XBTUSDTM", "ETHUSDTM"}


@pytest.mark.parametrize(("channel", "levels"), [("level2Depth50", 50), ("level2Depth5", 5)])
async def test_depth_frames_have_the_real_shape_every_100ms(channel: str, levels: int) -> None:
    async with running() as fx, connected(fx) as ws:
        await subscribe(ws, f"/contractMarket/{channel}:SOLUSDTM")
        fx.clock.advance(1_000)
        frames = [json.loads(t) for t in await collect(ws, 10)]
        await assert_silent(ws, 0.1)
    for i, frame in enumerate(frames):
        assert list(frame) == ["topic", "type", "subject", "sn", "data"]
        assert (frame["topic"], frame["subject"]) == (f"/contractMarket/{channel}:SOLUSDTM", "level2")
        data = frame["data"]
        assert list(data) == ["sequence", "asks", "bids", "timestamp", "ts"]
        assert frame["sn"] == data["timestamp"] == data["ts"] == START_MS + 100 * (i + 1)
        assert len(data["bids"]) == len(data["asks"]) == levels
        assert all(isinstance(p, str) and isinstance(s, int) for p, s in data["bids"] + data["asks"])


async def test_candle_frames_have_the_real_column_order() -> None:
    async with running() as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/limitCandle:XBTUSDTM_1min")
        fx.clock.advance(10_000)
        frame = json.loads(await recv(ws))
        model = fx.market.model.symbol("XBTUSDTM")
    assert list(frame) == ["topic", "type", "data", "subject"] and frame["subject"] == "candle.stick"
    data = frame["data"]
    assert list(data) == ["symbol", "candles", "time"] and data["symbol"] == "XBTUSDTM"
    start_s, open_, close, high, low, volume, turnover = data["candles"]
    agg = model.kline(int(start_s) * 1000, int(start_s) * 1000 + 60_000, data["time"])
    assert agg is not None and all(isinstance(c, str) for c in data["candles"])
    assert START_MS < data["time"] <= START_MS + 10_000 and int(start_s) == agg.start_ms // 1000
    assert (int(volume), float(high) >= float(low)) == (agg.volume, True)
    assert float(close) == agg.close / 10 and float(open_) == agg.open / 10 and float(turnover) > 0


async def test_candle_turnover_first_matches_the_2026_capture_order() -> None:
    async with running(candle_turnover_first=True) as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/limitCandle:XBTUSDTM_1min")
        fx.clock.advance(10_000)
        candles = json.loads(await recv(ws))["data"]["candles"]
    assert "." in candles[5] and candles[6].isdigit()


async def test_delivered_frames_equal_the_offline_model_byte_for_byte() -> None:
    topics = ["tickerV2:XBTUSDTM", "level2Depth50:ETHUSDTM", "level2Depth5:XBTUSDM", "limitCandle:ETHUSDTM_1min"]
    async with running() as fx, connected(fx) as ws:
        for i, topic in enumerate(topics):
            await subscribe(ws, f"/contractMarket/{topic}", str(i))
        await asyncio.sleep(0.05)  # let the server start the streams at the frozen instant
        fx.clock.advance(3_000)
        expected = sorted(
            (
                f
                for t in topics
                for f in fx.market.frames(Subscription(*t.split(":")), START_NS, START_NS + 3_000_000_000)
            ),
            key=lambda f: f.t_ns,
        )
        received = await collect(ws, len(expected))
        await assert_silent(ws, 0.1)
        assert received == [f.text for f in expected]
        for topic in topics:
            channel, arg = topic.split(":")
            delivered = fx.recorder.delivered(channel, arg)
            assert [d.text for d in delivered] == [f.text for f in expected if f.sub == Subscription(channel, arg)]


async def test_same_seed_gives_byte_identical_streams_in_max_rate_mode() -> None:
    async def stream(seed: int, topic: str) -> list[str]:
        async with running(seed=seed, max_rate=True) as fx, connected(fx) as ws:
            await subscribe(ws, topic)
            return await collect(ws, 400)

    for topic in ("/contractMarket/tickerV2:XBTUSDTM,ETHUSDTM", "/contractMarket/level2Depth50:XBTUSDTM,SOLUSDTM"):
        first = await stream(3, topic)
        assert first == await stream(3, topic)
        assert first != await stream(4, topic)


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "batched"])
@pytest.mark.parametrize("topic", ["tickerV2:XBTUSDTM,SOLUSDTM,ETHUSDM", "level2Depth50:ETHUSDTM,XBTUSDM"])
async def test_max_rate_frames_equal_the_offline_model_byte_for_byte(recorded: bool, topic: str) -> None:
    channel, symbols = topic.split(":")
    async with running(max_rate=True, record_delivered=recorded) as fx, connected(fx) as ws:
        await subscribe(ws, f"/contractMarket/{topic}")
        received = await collect(ws, 600)
        streams = [
            fx.market.frames(Subscription(channel, s), START_NS, START_NS + 300_000_000_000) for s in symbols.split(",")
        ]
    expected = sorted((f for frames in streams for f in frames), key=lambda f: f.t_ns)
    assert received == [f.text for f in expected[:600]]


async def test_max_rate_stops_quietly_when_the_client_vanishes(caplog: pytest.LogCaptureFixture) -> None:
    async with running(max_rate=True, record_delivered=False) as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/level2Depth50:XBTUSDTM,ETHUSDTM")
        await collect(ws, 100)
        (conn_id,) = fx.connections()
        ws.transport.abort()
        async with asyncio.timeout(3):
            assert await fx.wait_closed(conn_id) == "client closed"
    assert not [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]


async def test_subscribing_twice_gives_one_stream_and_unsubscribe_stops_it() -> None:
    async with running() as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/level2Depth5:XBTUSDTM", "a")
        await subscribe(ws, "/contractMarket/level2Depth5:XBTUSDTM", "b")
        fx.clock.advance(500)
        assert len(await collect(ws, 5)) == 5
        await assert_silent(ws, 0.1)
        await send(ws, id="u", type="unsubscribe", topic="/contractMarket/level2Depth5:XBTUSDTM", response=True)
        assert json.loads(await recv(ws)) == {"id": "u", "type": "ack"}
        fx.clock.advance(500)
        await assert_silent(ws, 0.1)


async def test_rest_snapshot_agrees_with_the_depth_push_of_the_same_instant() -> None:
    async with running() as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/level2Depth50:ETHUSDTM")
        fx.clock.advance(700)
        last = json.loads((await collect(ws, 7))[-1])["data"]
        async with httpx.AsyncClient(base_url=fx.rest_url) as http:
            snapshot = (await http.get("/api/v1/level2/snapshot", params={"symbol": "ETHUSDTM"})).json()["data"]
    assert snapshot["sequence"] == last["sequence"]
    assert [[str(p), s] for p, s in snapshot["bids"][:50]] == [[str(float(p)), s] for p, s in last["bids"]]
