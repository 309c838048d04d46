"""A websockets client connection whose complete data messages wait in a plain deque for their reader.

websockets' own receive path runs a generator-based parser per frame (three nested reads, an enum lookup, a frame
object and its checks) and then queues the frame, and each ``recv()`` runs three coroutines to return one message:
most of what receiving a tickerV2 frame costs in Python. Here, once the opening handshake is over, the byte stream
is split into frames in one loop: a plain data frame (final, unmasked, no extension bits, within the size limit)
becomes one ``append`` of its payload, and the reader takes it with one ``popleft``, awaiting only when the deque is
empty (:meth:`MessageQueue.wait`). Every other frame (control frames, fragments, compressed frames) is handed to
websockets whole, so its parser always starts at a frame boundary; once the connection leaves the OPEN state (a
close frame either way), or on a frame websockets must refuse (masked, over the size limit), the rest of the stream
is websockets' alone. The handshake, control frames, the closing handshake and protocol errors stay websockets'.

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
_PLAIN_HEADS = frozenset({0x81, 0x82})
"""First header byte of a final text or binary frame without extension bits."""
_END_OF_HEAD = b"\r\n\r\n"


class MessageQueue(ClientConnection):
    """Pass as ``create_connection`` to :func:`websockets.connect`; read ``messages`` instead of calling ``recv``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: deque[bytes] = deque()
        """Complete text or binary messages, oldest first, as bytes (text is not decoded)."""
        self._fragments: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._splitting = False  # the stream is split into frames here (see the module doc)
        self._unsplit = b""  # while splitting: the start of a frame not yet complete
        self._head_end = b""  # during the handshake: the last bytes fed to websockets, to find the head's end

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

    def data_received(self, data: bytes) -> None:
        """Split plain data frames off the stream here once the connection is open; the rest is websockets'."""
        if self._splitting and self.protocol.state is State.OPEN:
            self._split(data)
        elif self._splitting:  # closing: websockets reads on from the frame boundary where the split stopped
            self._pass_on(data)
        elif self.protocol.state is State.CONNECTING:
            self._handshake(data)
        else:
            super().data_received(data)

    def eof_received(self) -> None:
        """Give websockets the unfinished frame first, so that it sees the stream as it came."""
        if self._unsplit:
            self._pass_on(b"")
        super().eof_received()

    def process_event(self, event: Event) -> None:
        """Queue data messages that websockets parsed (reassembled if fragmented); anything else is its business."""
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
        self._queued()

    def connection_lost(self, exc: Exception | None) -> None:
        """Let a waiting reader see the end of the connection."""
        super().connection_lost(exc)
        self._wake()

    def _handshake(self, data: bytes) -> None:
        """Feed websockets the HTTP response; once it opened the connection, split what follows the response."""
        seen = self._head_end + data
        end = seen.find(_END_OF_HEAD)
        if end < 0:
            self._head_end = seen[-len(_END_OF_HEAD) + 1 :]
            super().data_received(data)
            return
        cut = end + len(_END_OF_HEAD) - len(self._head_end)
        self._head_end = b""
        super().data_received(data[:cut])  # a 101 response has no body: websockets is now at a frame boundary
        if self.protocol.state is State.OPEN:
            self._splitting = True
            self._split(data[cut:])
        elif data[cut:]:
            super().data_received(data[cut:])  # a refused handshake's body

    def _split(self, data: bytes) -> None:
        """Queue the plain data frames of ``data`` and hand websockets the others whole; keep an unfinished one."""
        if self._unsplit:
            data, self._unsplit = self._unsplit + data, b""
        messages, size, limit = self.messages, len(data), self._size_limit()
        start = 0
        while size - start >= 2:
            head, length = data[start], data[start + 1]
            offset = start + 2
            if length >= 126:
                if length > 127:  # a masked frame, which a server must not send: websockets refuses it
                    self._pass_on(data[start:])
                    return
                offset += 2 if length == 126 else 8
                if offset > size:
                    break
                length = int.from_bytes(data[start + 2 : offset], "big")
            if limit is not None and length > limit:  # websockets refuses it on its header
                self._pass_on(data[start:])
                return
            end = offset + length
            if end > size:
                break
            if head in _PLAIN_HEADS and not self._fragments:
                messages.append(data[offset:end])
            else:
                super().data_received(data[start:end])
                if self.protocol.state is not State.OPEN:
                    self._pass_on(data[end:])
                    return
            start = end
        self._unsplit = data[start:]
        self._queued()

    def _size_limit(self) -> int | None:
        """The largest frame websockets accepts now (it checks each frame against both of its limits)."""
        message, fragment = self.protocol.max_message_size, self.protocol.max_fragment_size
        return message if fragment is None else fragment if message is None else min(message, fragment)

    def _pass_on(self, data: bytes) -> None:
        """The unfinished frame and ``data`` to websockets, which reads the stream from here on."""
        unsplit, self._unsplit = self._unsplit, b""
        self._splitting = False
        super().data_received(unsplit + data)
        self._queued()

    def _queued(self) -> None:
        """Wake the reader and pause reading once ``MAX_QUEUED`` messages wait."""
        if len(self.messages) >= MAX_QUEUED and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
