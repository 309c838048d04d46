"""The running fake exchange: one aiohttp server with the REST API and the WebSocket endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from types import TracebackType

from aiohttp import web

from ops.fake_exchange.clock import FakeClock
from ops.fake_exchange.config import FakeExchangeConfig
from ops.fake_exchange.contracts import MAX_CONTRACTS, Contract, make_contracts
from ops.fake_exchange.faults import Faults
from ops.fake_exchange.model import MarketModel
from ops.fake_exchange.playback import Capture, PlaybackFeed, load_capture
from ops.fake_exchange.recorder import Recorder
from ops.fake_exchange.rest import RestApi
from ops.fake_exchange.streams import Feed, Market, ModelFeed
from ops.fake_exchange.tokens import TokenRegistry
from ops.fake_exchange.ws import WebSocketEndpoint

__all__ = ["FakeExchange", "select_contracts"]


def select_contracts(symbols: int | tuple[str, ...]) -> tuple[Contract, ...]:
    """The universe's first ``symbols`` contracts, or the named ones (``ValueError`` for unknown names)."""
    if isinstance(symbols, int):
        return make_contracts(symbols)
    universe = {c.symbol: c for c in make_contracts(MAX_CONTRACTS)}
    unknown = [s for s in symbols if s not in universe]
    if unknown:
        raise ValueError(f"symbols not in the fake's universe: {unknown}")
    return tuple(universe[s] for s in symbols)


class FakeExchange:
    """A KuCoin Futures look-alike on ``127.0.0.1``; use as ``async with FakeExchange(config) as fx``.

    ``fx.rest_url`` is the REST base URL to give a client; the WebSocket endpoint comes from its
    ``bullet-public`` reply (``fx.ws_url``). ``fx.market`` computes expected frames offline, ``fx.recorder``
    holds what was actually sent, ``fx.faults`` injects faults, ``fx.clock`` is the fake time.
    """

    def __init__(self, config: FakeExchangeConfig | None = None) -> None:
        self.config = config = config or FakeExchangeConfig()
        start_ms = config.start_ms if config.start_ms is not None else time.time_ns() // 1_000_000
        self.start_ms = start_ms
        self.clock = FakeClock(start_ms, config.speed)
        self.contracts = select_contracts(config.symbols)
        self.market = Market(
            MarketModel(self.contracts, config.seed, start_ms - config.history_ms),
            candle_turnover_first=config.candle_turnover_first,
        )
        rng = random.Random(config.seed)
        self.tokens = TokenRegistry(config.token_lifetime_ms, random.Random(rng.getrandbits(64)))
        self.recorder = Recorder(keep=config.record_delivered, capture_path=config.capture_path)
        self._capture: Capture | None = load_capture(config.playback_path) if config.playback_path else None
        self._ws = WebSocketEndpoint(
            config,
            self.clock,
            self.tokens,
            self.recorder,
            self._new_feed,
            self._capture.topics if self._capture else frozenset(),
            random.Random(rng.getrandbits(64)),
        )
        self._rest = RestApi(config, self.clock, self.market.model, self.tokens, lambda: self.ws_url)
        self._runner: web.AppRunner | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._port = 0

    def _new_feed(self) -> Feed:
        if self._capture is not None:
            return PlaybackFeed(self._capture)
        return ModelFeed(self.market)

    @property
    def faults(self) -> Faults:
        """The fault controller."""
        return self._ws.faults

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._port

    @property
    def rest_url(self) -> str:
        """The REST base URL (``http://127.0.0.1:<port>``)."""
        return f"http://{self.config.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint that ``bullet-public`` hands out."""
        return f"ws://{self.config.host}:{self._port}/"

    def connections(self) -> list[str]:
        """Ids of the open WebSocket connections (``c1``, ``c2``... in order of connection)."""
        return list(self._ws.live)

    def close_reason(self, conn_id: str) -> str | None:
        """Why a connection ended (``idle timeout``, ``slow consumer``...), None while it is open."""
        return self._ws.closed_reasons.get(conn_id)

    async def wait_closed(self, conn_id: str) -> str:
        """Wait until a connection has ended (wrap in ``asyncio.timeout``); returns why (see :meth:`close_reason`)."""
        while conn_id not in self._ws.closed_reasons:
            self._ws.ended.clear()
            await self._ws.ended.wait()
        return self._ws.closed_reasons[conn_id]

    async def wait_for_connections(self, count: int) -> list[str]:
        """Wait until at least ``count`` connections are open (wrap in ``asyncio.timeout``); returns their ids."""
        while len(self._ws.live) < count:
            self._ws.opened.clear()
            await self._ws.opened.wait()
        return self.connections()

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application(middlewares=[self._rest.middleware])
        app.add_routes([*self._rest.routes(), web.get("/", self._ws.handle)])
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._monitor = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self._ws.check_stuck()

    async def stop(self) -> None:
        """Close every connection and the listener; flush the capture file."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        for conn in list(self._ws.live.values()):
            conn.closed = True
            conn.wake.set()
            if conn.transport is not None:
                conn.transport.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.recorder.close()

    async def __aenter__(self) -> FakeExchange:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
