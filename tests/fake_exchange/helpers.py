"""Client-side helpers for the fake exchange tests: a plain httpx + websockets client, as a producer would be."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from ops.fake_exchange import FakeExchange, FakeExchangeConfig

START_MS = 1_790_000_000_000


def config(**overrides: Any) -> FakeExchangeConfig:
    """A small, frozen-clock fake unless the test says otherwise."""
    settings: dict[str, Any] = {"seed": 7, "symbols": 20, "start_ms": START_MS, "speed": 0.0}
    settings.update(overrides)
    return FakeExchangeConfig(**settings)


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[FakeExchange]:
    """A started fake exchange."""
    async with FakeExchange(config(**overrides)) as fx:
        yield fx


async def bullet(fx: FakeExchange) -> dict[str, Any]:
    """The ``data`` of a ``bullet-public`` reply."""
    async with httpx.AsyncClient(base_url=fx.rest_url) as http:
        reply = await http.post("/api/v1/bullet-public")
    data: dict[str, Any] = reply.json()["data"]
    return data


def ws_url(data: dict[str, Any], connect_id: str = "test") -> str:
    """The connect URL for a bullet reply."""
    server = data["instanceServers"][0]
    return f"{server['endpoint']}?token={data['token']}&connectId={connect_id}"


@asynccontextmanager
async def connected(fx: FakeExchange, connect_id: str = "test") -> AsyncIterator[ClientConnection]:
    """A connection past its welcome frame."""
    async with websockets.connect(ws_url(await bullet(fx), connect_id), max_queue=None) as ws:
        welcome = json.loads(await recv(ws))
        assert welcome == {"id": connect_id, "type": "welcome"}
        yield ws


async def recv(ws: ClientConnection, wait_s: float = 3.0) -> str:
    """The next text frame."""
    async with asyncio.timeout(wait_s):
        message = await ws.recv()
    assert isinstance(message, str)
    return message


async def send(ws: ClientConnection, **message: Any) -> None:
    """Send one JSON message."""
    await ws.send(json.dumps(message))


async def subscribe(ws: ClientConnection, topic: str, request_id: str = "1") -> None:
    """Subscribe with ``response`` true and expect the ack."""
    await send(ws, id=request_id, type="subscribe", topic=topic, privateChannel=False, response=True)
    assert json.loads(await recv(ws)) == {"id": request_id, "type": "ack"}


async def collect(ws: ClientConnection, count: int, wait_s: float = 5.0) -> list[str]:
    """The next ``count`` frames."""
    async with asyncio.timeout(wait_s):
        return [await recv(ws, wait_s) for _ in range(count)]
