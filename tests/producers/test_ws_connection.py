"""MessageQueue against a real local websockets server: whole messages in order, flow control, then the close."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

from producers.ws_connection import MAX_QUEUED, MessageQueue

MANY = [f"m{i}" for i in range(MAX_QUEUED * 3)]


async def _read_all(ws: MessageQueue, got: list[bytes], after_first: float = 0.0) -> None:
    """Read every message into ``got`` until the close is raised; pause once after the first (the queue fills)."""
    while True:
        if not ws.messages:
            await ws.wait()
        got.append(ws.messages.popleft())
        if len(got) == 1 and after_first:
            await asyncio.sleep(after_first)
            assert len(ws.messages) >= MAX_QUEUED
            assert not ws.transport.is_reading()  # paused until the reader has taken everything


async def test_messages_arrive_whole_and_in_order_then_the_close() -> None:
    async def serve(server_ws: ServerConnection) -> None:
        await server_ws.recv()
        await server_ws.send("tëxt")
        await server_ws.send(b"\x00\xffbinary")
        await server_ws.send(["frag", "men", "ted"])  # one message in three frames
        for message in MANY:
            await server_ws.send(message)
        await server_ws.close(1000, "done")

    async with websockets.serve(serve, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", create_connection=MessageQueue) as ws:
            assert isinstance(ws, MessageQueue)
            with pytest.raises(TimeoutError):  # nothing sent yet; a cancelled wait loses nothing
                async with asyncio.timeout(0.05):
                    await ws.wait()
            await ws.send("go")
            got: list[bytes] = []
            with pytest.raises(ConnectionClosedOK):
                await _read_all(ws, got, after_first=0.3)
    assert got == ["tëxt".encode(), b"\x00\xffbinary", b"fragmented", *(message.encode() for message in MANY)]
    assert ws.close_code == 1000


async def test_every_message_is_read_before_the_close_is_raised() -> None:
    async def serve(server_ws: ServerConnection) -> None:
        for message in MANY:
            await server_ws.send(message)
        await server_ws.close(1000)

    async with websockets.serve(serve, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", create_connection=MessageQueue) as ws:
            assert isinstance(ws, MessageQueue)
            got: list[bytes] = []
            with pytest.raises(ConnectionClosedOK):
                await _read_all(ws, got)
    assert got == [message.encode() for message in MANY]


async def test_a_lost_connection_wakes_the_reader() -> None:
    async def serve(server_ws: ServerConnection) -> None:
        await server_ws.send("last")
        server_ws.transport.abort()

    async with websockets.serve(serve, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", create_connection=MessageQueue) as ws:
            assert isinstance(ws, MessageQueue)
            await ws.wait()
            assert ws.messages.popleft() == b"last"
            with pytest.raises(ConnectionClosedError):
                await ws.wait()
