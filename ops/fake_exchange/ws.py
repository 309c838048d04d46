"""The WebSocket endpoint: a thin aiohttp loop around :class:`~ops.fake_exchange.session.Session`, a feed and
the connection's faults.

Each connection has a reader task (client messages into the session) and one sender loop, the only writer of
the socket: it sends queued control replies, runs fault commands, checks the idle and token rules, and pushes
the feed's due frames (all of them as fast as the socket takes them in max-rate mode).

Slow readers: the server keeps producing at the clock's pace. A frame that is more than
``slow_consumer_lag_s`` real seconds late when it is sent, or a send stuck that long, makes the server abort the
TCP connection (no close frame), as a real server does to a consumer that never catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from ops.fake_exchange.clock import FakeClock
from ops.fake_exchange.config import FakeExchangeConfig
from ops.fake_exchange.faults import Command, ConnectionFaults, Faults
from ops.fake_exchange.frames import error_frame, ping_timeout_frame, welcome_frame
from ops.fake_exchange.framing import text_frames
from ops.fake_exchange.recorder import Recorder
from ops.fake_exchange.session import Session
from ops.fake_exchange.streams import Feed, Frame
from ops.fake_exchange.tokens import TokenRegistry

__all__ = ["Connection", "WebSocketEndpoint"]

_SERVICE_EVERY = 64
_HIGH_WATER = 1 << 18


@dataclass
class Connection:
    """One open WebSocket: its protocol state, feed, faults and the sender's wake-up signal."""

    conn_id: str
    token: str
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    session: Session
    feed: Feed
    faults: ConnectionFaults
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: deque[str] = field(default_factory=deque)
    subs_dirty: bool = False
    closed: bool = False
    sending_since: float | None = None
    close_reason: str = ""


class WebSocketEndpoint:
    """Accepts connections at ``/`` and runs them."""

    def __init__(
        self,
        config: FakeExchangeConfig,
        clock: FakeClock,
        tokens: TokenRegistry,
        recorder: Recorder,
        feed_factory: Callable[[], Feed],
        extra_topics: frozenset[str],
        rng: random.Random,
    ) -> None:
        self._config = config
        self._clock = clock
        self._tokens = tokens
        self._recorder = recorder
        self._feed_factory = feed_factory
        self._extra_topics = extra_topics
        self._rng = rng
        self._count = 0
        self.live: dict[str, Connection] = {}
        self.opened = asyncio.Event()
        self.ended = asyncio.Event()
        self.closed_reasons: dict[str, str] = {}
        self.faults = Faults(self._live_faults, self._wake, self._expire_tokens)

    def _live_faults(self) -> dict[str, ConnectionFaults]:
        return {cid: conn.faults for cid, conn in self.live.items()}

    def _wake(self, conn_id: str) -> None:
        conn = self.live.get(conn_id)
        if conn is not None:
            conn.wake.set()

    def _expire_tokens(self) -> None:
        self._tokens.expire_all(self._clock.now_ms())

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The aiohttp handler of ``GET /`` upgrades."""
        self._count += 1
        conn_id = f"c{self._count}"
        token = request.query.get("token", "")
        connect_id = request.query.get("connectId") or f"{self._rng.getrandbits(64):016x}"
        ws = web.WebSocketResponse(compress=not self._config.max_rate, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        status = self._tokens.check(token, self._clock.now_ms())
        if status != "ok":
            await self._control(conn_id, ws, error_frame(connect_id, 401, f"token is {status}"))
            await ws.close(code=1000, message=b"Bye")
            self.closed_reasons[conn_id] = f"token is {status}"
            return ws
        plan = self.faults.take_plan()
        session = Session(
            connect_id, self._config.session_limits, self._rng, time.monotonic(), extra_topics=self._extra_topics
        )
        faults = ConnectionFaults() if plan is None else ConnectionFaults.from_plan(plan)
        conn = Connection(conn_id, token, ws, request.transport, session, self._feed_factory(), faults)
        self.live[conn_id] = conn
        self.opened.set()
        reader = asyncio.create_task(self._read(conn))
        try:
            await self._control(conn_id, ws, welcome_frame(connect_id))
            await self._run(conn)
        except (ConnectionError, RuntimeError) as exc:
            conn.close_reason = conn.close_reason or f"socket error: {exc}"
        finally:
            conn.closed = True
            reader.cancel()
            del self.live[conn_id]
            self.closed_reasons[conn_id] = conn.close_reason or "client closed"
            self.ended.set()
            if not ws.closed:
                await ws.close()
        return ws

    async def _control(self, conn_id: str, ws: web.WebSocketResponse, text: str) -> None:
        await ws.send_str(text)
        self._recorder.record(conn_id, "control", text)

    async def _read(self, conn: Connection) -> None:
        session = conn.session
        async for message in conn.ws:
            if message.type != WSMsgType.TEXT:
                continue
            before = len(session.subscriptions)
            keys = tuple(session.subscriptions)
            replies = session.on_text(message.data, time.monotonic(), self._clock.now_ns() // 1000)
            if len(session.subscriptions) != before or tuple(session.subscriptions) != keys:
                conn.subs_dirty = True
            for reply in replies:
                if reply.kind != "pong" or not conn.faults.stall_pongs:
                    conn.outbox.append(reply.text)
            conn.wake.set()
        conn.closed = True
        conn.wake.set()

    async def _run(self, conn: Connection) -> None:
        config = self._config
        clock = self._clock
        expiry_ms = self._tokens.expiry_ms(conn.token)
        bursting = False
        while not conn.closed:
            if not bursting:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(conn.wake.wait(), config.tick_s)
            conn.wake.clear()
            if conn.closed or await self._service(conn):
                return
            expiry_ms = min(expiry_ms, self._tokens.expiry_ms(conn.token))
            if clock.now_ms() >= expiry_ms:
                await self._command(conn, Command("expire"))
                return
            if conn.session.idle_for(time.monotonic()) >= config.idle_timeout_s:
                if config.idle_error_frame:
                    await self._control(conn.conn_id, conn.ws, ping_timeout_frame())
                await self._close(conn, 1000, "Bye", "idle timeout")
                return
            if conn.subs_dirty:
                conn.subs_dirty = False
                conn.feed.sync(conn.session.subscriptions, clock.now_ns())
            frames = conn.feed.burst() if config.max_rate else conn.feed.due(clock.now_ns())
            bursting = config.max_rate and bool(frames)
            if frames and await self._push(conn, frames):
                return

    async def _service(self, conn: Connection) -> bool:
        """Run pending fault commands and send queued control replies; True when the connection ended."""
        while conn.faults.commands:
            if await self._command(conn, conn.faults.commands.popleft()):
                return True
        while conn.outbox:
            await self._control(conn.conn_id, conn.ws, conn.outbox.popleft())
        return False

    async def _push(self, conn: Connection, frames: list[Frame]) -> bool:
        """Send data frames through the connection's faults; True when the connection ended.

        Frames go out in chunks of up to 64, with queued control replies and fault commands served in between.
        Without permessage-deflate a chunk is framed here and written to the transport at once: the bytes aiohttp
        would write, with far fewer calls.
        """
        for start in range(0, len(frames), _SERVICE_EVERY):
            if await self._send_chunk(conn, frames[start : start + _SERVICE_EVERY]):
                return True
            if conn.closed or await self._service(conn):
                return True
        if self._config.max_rate:
            await asyncio.sleep(0)
        return conn.closed

    async def _send_chunk(self, conn: Connection, frames: list[Frame]) -> bool:
        """Send up to 64 data frames; True when a fault command ended the connection.

        With no fault rewriting or counting frames, nothing recorded and no pacing (max-rate benchmarks), the
        chunk is framed in one go; otherwise each frame goes through the faults, the recorder and the
        slow-consumer check.
        """
        faults = conn.faults
        batched = conn.transport is not None and not conn.ws.compress
        clock = self._clock
        paced = not self._config.max_rate and clock.speed > 0
        if batched and not (paced or faults.active or self._recorder.active):
            await self._flush(conn, [frame.text for frame in frames])
            return False
        record = self._recorder.record
        lag_limit_ns = self._config.slow_consumer_lag_s * 1e9 * clock.speed
        batch: list[str] = []
        for out in faults.apply(frames):
            if out.delay_s:
                await self._flush(conn, batch)
                await asyncio.sleep(out.delay_s)
            if paced and clock.now_ns() - out.frame.t_ns > lag_limit_ns:
                self._abort(conn, "slow consumer")
                return True
            if batched:
                batch.append(out.text)
            else:
                conn.sending_since = time.monotonic()
                await conn.ws.send_str(out.text)
                conn.sending_since = None
            record(conn.conn_id, out.kind, out.text, out.frame)
            if out.kind == "data" and (command := faults.count_delivered()) is not None:
                await self._flush(conn, batch)
                await self._command(conn, command)
                return True
        await self._flush(conn, batch)
        return False

    async def _flush(self, conn: Connection, batch: list[str]) -> None:
        """Write batched frames, then wait while the transport holds more than it should (backpressure)."""
        transport = conn.transport
        if not batch or transport is None:
            return
        if transport.is_closing():  # the client has gone: writing would only log warnings
            conn.closed = True
            return
        transport.write(text_frames(batch))
        batch.clear()
        if transport.get_write_buffer_size() > _HIGH_WATER:
            conn.sending_since = time.monotonic()
            # A bare transport has no awaitable drain (aiohttp's is private): poll its public buffer size.
            while transport.get_write_buffer_size() > _HIGH_WATER and not transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            conn.sending_since = None

    async def _command(self, conn: Connection, command: Command) -> bool:
        """Run a fault command; True when it ended the connection."""
        if command.action == "drop":
            self._abort(conn, "dropped by fault")
            return True
        if command.action == "disconnect":
            await self._close(conn, 1001, "server is rebalancing", "server disconnect")
            return True
        if command.action == "expire":
            await self._control(conn.conn_id, conn.ws, error_frame(conn.session.connect_id, 401, "token is expired"))
            await self._close(conn, 1000, "Bye", "token expired")
            return True
        await self._control(conn.conn_id, conn.ws, error_frame(conn.session.connect_id, command.code, command.data))
        return False

    async def _close(self, conn: Connection, code: int, message: str, reason: str) -> None:
        conn.close_reason = reason
        conn.closed = True
        await conn.ws.close(code=code, message=message.encode())

    def _abort(self, conn: Connection, reason: str) -> None:
        conn.close_reason = reason
        conn.closed = True
        if conn.transport is not None:
            conn.transport.abort()

    def check_stuck(self) -> None:
        """Abort connections whose current send has waited longer than the slow-consumer limit."""
        limit = self._config.slow_consumer_lag_s
        now = time.monotonic()
        for conn in list(self.live.values()):
            if conn.sending_since is not None and now - conn.sending_since > limit:
                self._abort(conn, "slow consumer")
