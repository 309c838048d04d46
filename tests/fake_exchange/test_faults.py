"""Fault injection, each fault exercised over a real socket, and the recorder's view of it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from ops.fake_exchange import FaultPlan, Subscription
from tests.fake_exchange.helpers import START_MS, bullet, collect, connected, recv, running, send, subscribe, ws_url

START_NS = START_MS * 1_000_000
DEPTH = "/contractMarket/level2Depth5:XBTUSDTM"


async def closed_code(ws: websockets.ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as info:
        await recv(ws)
    return info.value.rcvd.code if info.value.rcvd else None


async def test_drop_connection_aborts_without_a_close_frame() -> None:
    async with running() as fx, connected(fx) as ws:
        (conn_id,) = await fx.wait_for_connections(1)
        assert fx.faults.drop_connection(conn_id) == [conn_id]
        assert await closed_code(ws) is None
        await asyncio.sleep(0.05)
        assert fx.close_reason(conn_id) == "dropped by fault" and fx.connections() == []


async def test_server_disconnect_closes_cleanly_with_1001() -> None:
    async with running() as fx, connected(fx) as ws:
        await fx.wait_for_connections(1)
        fx.faults.server_disconnect()
        assert await closed_code(ws) == 1001


async def test_send_error_sends_an_error_frame_and_keeps_the_socket() -> None:
    async with running() as fx, connected(fx, "cid") as ws:
        await fx.wait_for_connections(1)
        fx.faults.send_error(500, "internal error")
        assert json.loads(await recv(ws)) == {"id": "cid", "type": "error", "code": 500, "data": "internal error"}
        await send(ws, id="1", type="ping")
        assert json.loads(await recv(ws))["type"] == "pong"


async def test_stalled_pongs_are_withheld_until_resumed() -> None:
    async with running() as fx, connected(fx) as ws:
        await fx.wait_for_connections(1)
        fx.faults.stall_pongs()
        await send(ws, id="1", type="ping")
        with pytest.raises(TimeoutError):
            await recv(ws, 0.2)
        fx.faults.stall_pongs(stalled=False)
        await send(ws, id="2", type="ping")
        assert json.loads(await recv(ws))["id"] == "2"


async def test_duplicates_are_sent_but_not_counted_as_events() -> None:
    async with running() as fx, connected(fx) as ws:
        (conn_id,) = await fx.wait_for_connections(1)
        await subscribe(ws, DEPTH)
        fx.faults.duplicate_frames(2)
        fx.clock.advance(500)
        received = await collect(ws, 7)
        expected = [
            f.text for f in fx.market.frames(Subscription("level2Depth5", "XBTUSDTM"), START_NS, START_NS + 500_000_000)
        ]
        assert received[:4] == [expected[0], expected[0], expected[1], expected[1]]
        assert [d.text for d in fx.recorder.delivered("level2Depth5", "XBTUSDTM")] == expected
        kinds = [d.kind for d in fx.recorder.connection_frames(conn_id)]
        assert kinds.count("duplicate") == 2 and kinds[:2] == ["control", "control"]


async def test_reordered_frames_arrive_swapped_and_the_recorder_restores_exchange_order() -> None:
    async with running() as fx, connected(fx) as ws:
        await fx.wait_for_connections(1)
        await subscribe(ws, DEPTH)
        fx.faults.reorder_frames(1)
        fx.clock.advance(500)
        received = await collect(ws, 5)
        expected = [
            f.text for f in fx.market.frames(Subscription("level2Depth5", "XBTUSDTM"), START_NS, START_NS + 500_000_000)
        ]
        assert received == [expected[1], expected[0], *expected[2:]]
        assert [d.text for d in fx.recorder.delivered("level2Depth5", "XBTUSDTM")] == expected


async def test_malformed_frames_are_invalid_json_and_flagged() -> None:
    async with running() as fx, connected(fx) as ws:
        (conn_id,) = await fx.wait_for_connections(1)
        await subscribe(ws, DEPTH)
        fx.faults.malformed_frames(1)
        fx.clock.advance(300)
        bad, good, *_ = await collect(ws, 4)
        with pytest.raises(ValueError):
            json.loads(bad)
        assert good.startswith(bad) and json.loads(good)["subject"] == "level2"
        assert [d.kind for d in fx.recorder.connection_frames(conn_id)].count("malformed") == 1
        assert len(fx.recorder.delivered("level2Depth5", "XBTUSDTM")) == 3


async def test_delayed_frames_arrive_late() -> None:
    async with running() as fx, connected(fx) as ws:
        await fx.wait_for_connections(1)
        await subscribe(ws, DEPTH)
        fx.faults.delay_frames(1, 0.3)
        started = time.monotonic()
        fx.clock.advance(100)
        await recv(ws)
        assert time.monotonic() - started >= 0.3


async def test_expire_tokens_closes_connections_and_old_tokens_stop_working() -> None:
    async with running() as fx:
        data = await bullet(fx)
        async with websockets.connect(ws_url(data, "a")) as ws:
            await recv(ws)
            await fx.wait_for_connections(1)
            fx.faults.expire_tokens()
            assert json.loads(await recv(ws)) == {"id": "a", "type": "error", "code": 401, "data": "token is expired"}
            assert await closed_code(ws) == 1000
        async with websockets.connect(ws_url(data, "b")) as ws:
            assert json.loads(await recv(ws))["data"] == "token is expired"
        async with connected(fx, "fresh") as ws:
            await send(ws, id="1", type="ping")
            assert json.loads(await recv(ws))["type"] == "pong"


async def test_fault_plan_applies_to_the_next_connections_only() -> None:
    async with running() as fx:
        fx.faults.plan_next(FaultPlan(drop_after_frames=3))
        async with connected(fx) as ws:
            await subscribe(ws, DEPTH)
            fx.clock.advance(1_000)
            assert len(await collect(ws, 3)) == 3
            assert await closed_code(ws) is None
        async with connected(fx) as ws:
            await subscribe(ws, DEPTH)
            fx.clock.advance(1_000)
            assert len(await collect(ws, 10)) == 10


async def test_planned_load_balancing_disconnect_after_n_frames() -> None:
    async with running() as fx:
        fx.faults.plan_next(FaultPlan(disconnect_after_frames=2, stall_pongs=True))
        async with connected(fx) as ws:
            await subscribe(ws, DEPTH)
            fx.clock.advance(1_000)
            assert len(await collect(ws, 2)) == 2
            assert await closed_code(ws) == 1001


async def test_a_reader_that_stops_reading_is_disconnected_as_a_slow_consumer() -> None:
    symbols = "XBTUSDTM,ETHUSDTM,XBTUSDM,ETHUSDM,SOLUSDTM,XRPUSDTM,DOGEUSDTM,BNBUSDTM"
    async with running(speed=200.0, slow_consumer_lag_s=0.3) as fx:
        data = await bullet(fx)
        async with websockets.connect(ws_url(data), max_queue=4, close_timeout=0.1) as ws:
            await recv(ws)
            (conn_id,) = await fx.wait_for_connections(1)
            await send(ws, id="1", type="subscribe", topic=f"/contractMarket/level2Depth50:{symbols}", response=True)
            async with asyncio.timeout(10):
                assert await fx.wait_closed(conn_id) == "slow consumer"
