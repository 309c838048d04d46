"""Live tickerV2 and Depth50 streams: WebSocket connections around the sans-I/O session, and the market data
they deliver, sequenced and published.

Topics are sharded over connections (at most ``topics_per_connection`` each, ``reshard`` keeps assignments
stable). Each shard has one worker that keeps a connection alive: a NEW token per connect, a random instance
server, the session's pings and timers, and reconnects with full-jitter backoff. Before the 24 h token expiry the
session asks for a replacement: the worker opens it beside the old one and closes the old one only once the new
one streams, so nothing is missed; the overlap is removed by the per-stream :class:`Sequencer`, shared by every
connection. Symbols are re-discovered periodically: new listings are subscribed, delisted ones dropped.

Every close the producer decides on (a reconnect, the end of a handover, shutdown) is a closing handshake during
which the connection keeps reading: frames the server sent before it saw our close frame are still published, so
a close never loses what the exchange delivered. A peer that does not answer is cut off after ``CLOSE_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

import websockets
from websockets.exceptions import ConnectionClosed

from producers.kucoin.backoff import backoff
from producers.kucoin.contracts import select_symbols
from producers.kucoin.frames import Book, Event, FrameParser, Malformed, Unknown
from producers.kucoin.sequencing import PUBLISHED, Outcome, Sequencer
from producers.kucoin.session import (
    Notice,
    OpenReplacement,
    Reconnect,
    Session,
    SessionConfig,
    Signal,
    State,
    TopicFailed,
    TopicSilent,
)
from producers.kucoin.subscriptions import DEFAULT_TOPICS_PER_CONNECTION, reshard, topics_for
from producers.kucoin.topics import Stream, Topic
from producers.metrics import Buckets, ProducerMetrics, Tally
from producers.rest_client import KucoinRestClient
from producers.sink import RecordSink
from producers.ws_connection import MessageQueue
from schemas.records import TickerV2

__all__ = ["LiveStreams", "StreamsConfig"]

log = logging.getLogger(__name__)
SERVICE_EVERY_FRAMES = 200
CLOSE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 2 * CLOSE_TIMEOUT_S + 1.0
# Read once: on Python 3.11 every ``Stream.X`` goes through EnumType.__getattr__, too slow for every frame.
_TICKER, _DEPTH50, _DEPTH5 = Stream.TICKER_V2, Stream.DEPTH50, Stream.DEPTH5


@dataclass(frozen=True, slots=True)
class StreamsConfig:
    """What to stream and how."""

    symbols: tuple[str, ...] = ("all",)
    """Exact symbols, globs (``XBT*``) or ``all`` open contracts."""
    streams: tuple[Stream, ...] = (Stream.TICKER_V2, Stream.DEPTH50)
    topics_per_connection: int = DEFAULT_TOPICS_PER_CONNECTION
    refresh_interval_s: float = 300.0
    keep_repeats: bool = False
    """Publish Depth50 resends with an unchanged sequence (dropped and counted by default)."""
    session: SessionConfig = field(default_factory=SessionConfig)


@dataclass(frozen=True, slots=True)
class _Lane:
    """What the frames of one stream go through: their counters, then the sequence rules (none for Depth5, whose
    frames nothing consumes: they are counted, never published)."""

    frames: Tally
    latency: Buckets
    sequencer: Sequencer | None
    outcomes: dict[Outcome, Tally]


class MarketData:
    """Frames from every connection to Kafka: sequence rules per stream, then the sink."""

    def __init__(self, sink: RecordSink, metrics: ProducerMetrics, keep_repeats: bool) -> None:
        self._sink = sink
        self._lanes = {
            stream: _Lane(
                metrics.frames_by_stream[stream],
                metrics.latency_by_stream[stream],
                None if stream is _DEPTH5 else Sequencer(stream, keep_repeats=keep_repeats),
                {outcome: metrics.outcomes[(stream, outcome)] for outcome in Outcome},
            )
            for stream in Stream
        }
        self._ticker, self._depth50, self._depth5 = self._lanes[_TICKER], self._lanes[_DEPTH50], self._lanes[_DEPTH5]
        self._frames = 0

    def handle(self, event: Event, raw: str | bytes, receive_ts_ns: int) -> None:
        """Publish what is new, drop what the sequence rules reject, dead-letter what is broken."""
        if type(event) is TickerV2:
            ts_ns = event.exchange_ts_ns
            if self._admit(self._ticker, event.symbol, event.sequence, ts_ns, receive_ts_ns - ts_ns):
                self._sink.ticker(event, raw)
        elif type(event) is Book:
            record = event.record
            ts_ms = record.exchange_ts_ms
            lane = self._depth50 if event.depth == 50 else self._depth5
            if self._admit(lane, record.symbol, record.sequence, ts_ms, receive_ts_ns - ts_ms * 1_000_000):
                self._sink.depth(record, raw)
        elif type(event) is Malformed:
            self._sink.dead_letter("ws", f"malformed: {event.reason}", raw, receive_ts_ns)
        elif type(event) is Unknown:
            self._sink.dead_letter("ws", f"unknown type: {event.type} {event.topic or ''}".strip(), raw, receive_ts_ns)
        self._frames += 1
        if self._frames % SERVICE_EVERY_FRAMES == 0:
            self._sink.publisher.service()

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop the sequence state of delisted symbols."""
        for symbol in symbols:
            for lane in self._lanes.values():
                if lane.sequencer is not None:
                    lane.sequencer.forget(symbol)

    @staticmethod
    def _admit(lane: _Lane, symbol: str, sequence: int, exchange_ts: int, latency_ns: int) -> bool:
        """Count a market-data frame; whether to publish it."""
        lane.frames.value += 1  # Tally.inc() without the call: once per frame
        lane.latency.observe(latency_ns / 1e9)
        if lane.sequencer is None:
            return False
        outcome = lane.sequencer.observe(symbol, sequence, exchange_ts)
        lane.outcomes[outcome].value += 1
        return outcome in PUBLISHED


@dataclass
class _Connection:
    """One WebSocket connection: its session, its socket, and what a token-rotation handover watches."""

    session: Session
    ws: MessageQueue | None = None
    streaming: asyncio.Event = field(default_factory=asyncio.Event)
    replacement: asyncio.Task[bool] | None = None
    closing: asyncio.Task[None] | None = None
    changed: bool = False
    """The session got work from outside the pump (new topics, a close): serve it before the next frame."""

    def close(self, reason: str) -> None:
        """Decide to close (unless already decided) and start the closing handshake."""
        if _open(self.session):
            self.session.close(reason)
            self.changed = True
        self.handshake()

    def handshake(self) -> None:
        """Send our close frame once; the pump reads on until the server's close frame (or the timeout)."""
        if self.closing is None and self.ws is not None and self.session.state is not State.CLOSED:
            self.closing = asyncio.create_task(self.ws.close())


class _ShardWorker:
    """Keeps one shard of topics streaming, through reconnects and token rotations."""

    def __init__(self, index: int, topics: frozenset[Topic], owner: LiveStreams) -> None:
        self.index = index
        self.topics = topics
        self._owner = owner
        self._current: _Connection | None = None
        self._stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin streaming in the background."""
        self.task = asyncio.create_task(self._run(), name=f"shard-{self.index}")

    def set_topics(self, topics: frozenset[Topic]) -> None:
        """Subscribe and unsubscribe on the live connection; later connections start with the new set."""
        self.topics = topics
        if self._current is not None and self._current.session.state is not State.CLOSED:
            self._current.session.set_topics(topics)
            self._current.changed = True

    async def stop(self) -> None:
        """Close the connection, publishing what it still receives, and end the worker (cancelled if stuck)."""
        self._stopping.set()
        if self._current is not None:
            self._current.close("shutdown")
            if self._current.replacement is not None:
                self._current.replacement.cancel()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self.task, STOP_TIMEOUT_S)

    async def _run(self) -> None:
        delays = backoff(self._owner.rng, initial_s=0.5, cap_s=30.0)
        while not self._stopping.is_set():
            streamed = False
            try:
                streamed = await self._serve(replacing=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of one connection: log it, back off, connect again
                self._owner.metrics.reconnects.labels(type(exc).__name__).inc()
                log.warning("shard %d: connection failed: %s", self.index, exc)
            if streamed:
                delays = backoff(self._owner.rng, initial_s=0.5, cap_s=30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), next(delays))

    async def _serve(self, replacing: _Connection | None) -> bool:
        """Run one connection (with a new token) to its end, then follow its replacement if it rotated.

        When ``replacing`` is given, that older connection is closed once this one has streamed for the handover
        overlap: both stream for a moment, and the shared sequencers drop the doubles. Returns True if a
        connection streamed.
        """
        owner = self._owner
        bullet = await owner.rest.bullet()
        server = bullet.pick(owner.rng)
        connect_id = uuid.UUID(int=owner.rng.getrandbits(128)).hex
        session = Session(
            connect_id=connect_id,
            server=server,
            topics=self.topics,
            token_issued_at=owner.monotonic(),
            config=owner.config.session,
            parser=owner.parser,
        )
        connection = _Connection(session)
        url = server.connect_url(bullet.token, connect_id)
        async with websockets.connect(
            url,
            create_connection=MessageQueue,
            ping_interval=None,
            max_size=2**24,
            open_timeout=10,
            close_timeout=CLOSE_TIMEOUT_S,
        ) as connected:
            ws = connection.ws = cast(MessageQueue, connected)  # made by create_connection
            owner.metrics.connections.inc()
            try:
                pump = asyncio.create_task(self._pump(ws, connection))
                if replacing is None:
                    self._current = connection
                    if self._stopping.is_set():
                        connection.close("shutdown")
                else:
                    streaming = asyncio.create_task(connection.streaming.wait())
                    await asyncio.wait({pump, streaming}, return_when=asyncio.FIRST_COMPLETED)
                    streaming.cancel()
                    if connection.streaming.is_set():
                        await asyncio.wait({pump}, timeout=owner.config.session.handover_overlap_s)
                    if not pump.done():
                        self._current = connection
                        owner.metrics.rotations.inc()
                        replacing.close("replaced by a fresh connection before token expiry")
                streamed = await pump
            finally:
                owner.metrics.connections.dec()
                if session.state is not State.CLOSED:
                    session.closed()
                if connection.closing is not None:
                    await connection.closing
        if connection.replacement is not None:
            return await connection.replacement or streamed
        return streamed

    async def _pump(self, ws: MessageQueue, connection: _Connection) -> bool:
        """Read until the socket is closed, by either side; after our own close, until the handshake ends.

        The session is served (timers, messages to send, signals) before each batch of frames rather than before
        every frame: a market-data frame changes nothing that serving depends on, so a batch runs until the
        session's next deadline, a control frame, or work from outside (see :meth:`_batch`).
        """
        owner, session = self._owner, connection.session
        if not _open(session):  # stopped while the socket was opening: nothing to stream
            return False
        session.opened(owner.monotonic())
        while True:
            deadline = None
            connection.changed = False
            if _open(session):
                now = owner.monotonic()
                session.advance(now)
                for text in session.data_to_send(now):
                    await ws.send(text)
                self._act(session.signals(), connection)
                if session.state is State.STREAMING:
                    connection.streaming.set()
                deadline = session.next_deadline()
            if not _open(session):
                connection.handshake()
                deadline = None
            try:
                # One timeout per batch (no task, as wait_for makes): waiting for messages is cancel-safe.
                async with asyncio.timeout(None if deadline is None else max(0.0, deadline - owner.monotonic())):
                    await self._batch(ws, connection, deadline)
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                if _open(session):
                    owner.metrics.reconnects.labels("closed-by-server").inc()
                    log.info("shard %d: connection closed (%s)", self.index, closed)
                break
        self._act(session.signals(), connection)
        return connection.streaming.is_set()

    async def _batch(self, ws: MessageQueue, connection: _Connection, deadline: float | None) -> None:
        """Receive and publish frames until the session needs serving: after a frame that is not market data (it
        may change the session's state), once ``deadline`` has passed, or when the session changed from outside.
        """
        owner, messages = self._owner, ws.messages
        wall_clock_ns, monotonic = owner.wall_clock_ns, owner.monotonic
        receive, handle = connection.session.receive, owner.market.handle
        while True:
            if not messages:
                await ws.wait()
            frame = messages.popleft()  # bytes: the parser reads UTF-8, and bad UTF-8 is a malformed frame
            receive_ts_ns = wall_clock_ns()
            now = monotonic()
            event = receive(frame, now, receive_ts_ns)
            handle(event, frame, receive_ts_ns)
            if type(event) is not Book and type(event) is not TickerV2:
                return
            if connection.changed or (deadline is not None and now >= deadline):
                return

    def _act(self, signals: list[Signal], connection: _Connection) -> None:
        for signal in signals:
            if isinstance(signal, Reconnect):
                self._owner.metrics.reconnects.labels(f"code-{signal.code}" if signal.code else "timeout").inc()
                log.info("shard %d: reconnecting: %s", self.index, signal.reason)
            elif isinstance(signal, OpenReplacement) and connection.replacement is None:
                connection.replacement = asyncio.create_task(self._serve(replacing=connection))
            elif isinstance(signal, TopicFailed):
                log.error("shard %d: subscription to %s refused: %s", self.index, signal.topic, signal.reason)
            elif isinstance(signal, TopicSilent):
                self._owner.metrics.silent_topics.inc()
                log.warning("shard %d: %s acked but silent since %.0f s", self.index, signal.topic, signal.since)
            elif isinstance(signal, Notice):
                log.info("shard %d: %s", self.index, signal.message)


def _open(session: Session) -> bool:
    """Not yet closing (a function, so checks are re-read after calls that may change the state)."""
    return session.state not in (State.CLOSING, State.CLOSED)


class LiveStreams:
    """Every shard worker, the symbol refresh, and the shared market-data path."""

    def __init__(
        self,
        rest: KucoinRestClient,
        sink: RecordSink,
        config: StreamsConfig,
        metrics: ProducerMetrics,
        rng: random.Random,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.rest = rest
        self.config = config
        self.metrics = metrics
        self.rng = rng
        self.monotonic = monotonic
        self.wall_clock_ns = wall_clock_ns
        self.parser = FrameParser()
        self.market = MarketData(sink, metrics, config.keep_repeats)
        self._workers: list[_ShardWorker] = []
        self._symbols: frozenset[str] = frozenset()

    async def run(self, stop: asyncio.Event) -> None:
        """Stream until ``stop`` is set, re-discovering symbols every ``refresh_interval_s``."""
        try:
            await self.refresh()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.refresh_interval_s)
                if not stop.is_set():
                    try:
                        await self.refresh()
                    except Exception as exc:  # a failed refresh keeps the current subscriptions
                        log.warning("symbol refresh failed: %s", exc)
        finally:
            await asyncio.gather(*(worker.stop() for worker in self._workers))

    async def refresh(self) -> None:
        """Subscribe new listings, drop delisted symbols, keep every other topic where it is."""
        symbols = frozenset(select_symbols(await self.rest.contracts(), self.config.symbols))
        delisted = self._symbols - symbols
        self._symbols = symbols
        self.metrics.symbols.set(len(symbols))
        desired = topics_for(symbols, self.config.streams)
        shards = reshard([w.topics for w in self._workers], desired, capacity=self.config.topics_per_connection)
        for index, topics in enumerate(shards):
            if index < len(self._workers):
                if topics != self._workers[index].topics:
                    self._workers[index].set_topics(topics)
            else:
                worker = _ShardWorker(index, topics, self)
                self._workers.append(worker)
                worker.start()
        self.market.forget(delisted)
        if delisted:
            log.info("dropped %d delisted symbols: %s", len(delisted), ", ".join(sorted(delisted)[:10]))
