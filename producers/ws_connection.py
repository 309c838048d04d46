"""A websockets client connection whose complete data messages wait in a plain deque for their reader.

websockets' own receive path queues frames, and each ``recv()`` then runs three coroutines to return one message:
about a third of what receiving a tickerV2 frame costs in Python. Here a message is one ``append`` as websockets
parses it and one ``popleft`` by the reader, which awaits only when the deque is empty (:meth:`MessageQueue.wait`).
Everything else (the handshake, control frames, the closing handshake, size limits) stays websockets'.

Reading from the socket pauses while ``MAX_QUEUED`` messages wait and resumes once the reader has taken them all,
as websockets' ``max_queue`` does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import Event, State

__all__ = ["MAX_QUEUED", "MessageQueue"]

MAX_QUEUED = 256


class MessageQueue(ClientConnection):
    """Pass as ``create_connection`` to :func:`websockets.connect`; read ``messages`` instead of calling ``recv``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: deque[bytes] = deque()
        """Complete text or binary messages, oldest first, as bytes (text is not decoded)."""
        self._fragments: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False

    async def wait(self) -> None:
        """Return once a message waits; raise ``ConnectionClosed`` once the connection is closed and all were read.

        Cancelling it loses nothing: messages only leave the deque when the reader takes them.
        """
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        while not self.messages:
            if self.state is State.CLOSED:
                raise self.protocol.close_exc
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def process_event(self, event: Event) -> None:
        """Queue data messages (reassembled if fragmented); anything else is websockets' business."""
        if type(event) is not Frame or event.opcode not in DATA_OPCODES:
            super().process_event(event)
            return
        if event.fin and not self._fragments:
            self.messages.append(bytes(event.data))
        else:
            self._fragments.append(bytes(event.data))
            if not event.fin:
                return
            self.messages.append(b"".join(self._fragments))
            self._fragments.clear()
        if len(self.messages) >= MAX_QUEUED and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        """Let a waiting reader see the end of the connection."""
        super().connection_lost(exc)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
