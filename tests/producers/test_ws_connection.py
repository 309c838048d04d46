"""MessageQueue against a real local websockets server (whole messages in order, flow control, then the close) and
against a byte stream cut anywhere: the frames it splits itself and those it leaves to websockets."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

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


@pytest.mark.parametrize("compression", [None, "deflate"])  # deflate: every frame is websockets' to decode
async def test_messages_arrive_whole_and_in_order_then_the_close(compression: str | None) -> None:
    async def serve(server_ws: ServerConnection) -> None:
        await server_ws.recv()
        await server_ws.send("tëxt")
        await server_ws.send(b"\x00\xffbinary")
        await server_ws.send(["frag", "men", "ted"])  # one message in three frames
        for message in MANY:
            await server_ws.send(message)
        await server_ws.close(1000, "done")

    async with websockets.serve(serve, "127.0.0.1", 0, compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        async with websockets.connect(url, create_connection=MessageQueue, compression=compression) as ws:
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


class _Transport(asyncio.Transport):
    """Keeps what the connection writes; reading is paused and resumed on request."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _connection(max_size: int | None = 2**20) -> tuple[MessageQueue, ServerProtocol, _Transport]:
    """A MessageQueue whose handshake request was answered by the returned server side (response not yet fed)."""
    client = ClientProtocol(parse_uri("ws://example.com/"), max_size=max_size)
    client.send_request(client.connect())
    server = ServerProtocol()
    server.receive_data(b"".join(client.data_to_send()))
    request = server.events_received()[0]
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    ws = MessageQueue(client, ping_interval=None, close_timeout=1)
    transport = _Transport()
    ws.connection_made(transport)
    return ws, server, transport


def _feed(ws: MessageQueue, stream: bytes, chunk: int) -> list[bytes]:
    messages: list[bytes] = []
    for start in range(0, len(stream), chunk):
        ws.data_received(stream[start : start + chunk])
        messages += ws.messages
        ws.messages.clear()
    return messages


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000, 1 << 20])
async def test_a_stream_cut_anywhere_gives_the_same_messages_and_replies(chunk: int) -> None:
    """Frames of every length encoding, with a ping, a fragmented message and the close among them, arriving in
    pieces of any size (the first one with the end of the handshake response)."""
    ws, server, transport = _connection()
    head = b"".join(server.data_to_send())
    texts = [b"", b"x" * 125, b"y" * 126, b"z" * 65535, b"w" * 65536, '{"tëxt":1}'.encode()]
    for text in texts:
        server.send_text(text)
    server.send_binary(b"\x00\xff")
    server.send_ping(b"still there?")
    server.send_text(b"frag", fin=False)
    server.send_continuation(b"men", fin=False)
    server.send_continuation(b"ted", fin=True)
    server.send_text(b"after")
    server.send_close(CloseCode.NORMAL_CLOSURE, "bye")
    late = Frame(Opcode.TEXT, b"never read").serialize(mask=False)  # after the close frame: websockets drops it
    messages = _feed(ws, head + b"".join(server.data_to_send()) + late, chunk)
    assert messages == [*texts, b"\x00\xff", b"fragmented", b"after"]
    server.receive_data(bytes(transport.written))
    replies = server.events_received()
    assert [frame.opcode for frame in replies if isinstance(frame, Frame)] == [Opcode.PONG, Opcode.CLOSE]
    assert ws.protocol.state is State.CLOSING and ws.protocol.close_rcvd is not None


async def test_frames_after_our_own_close_are_still_read() -> None:
    """Once we sent our close frame, websockets reads on from the frame boundary where the split stopped."""
    ws, server, _ = _connection()
    server.send_text(b"one")
    stream = b"".join(server.data_to_send())
    ws.data_received(stream[:-2])
    ws.protocol.send_close(CloseCode.NORMAL_CLOSURE)
    server.send_text(b"two")
    ws.data_received(stream[-2:] + b"".join(server.data_to_send()))
    assert list(ws.messages) == [b"one", b"two"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (Frame(Opcode.TEXT, b"x" * 1025), CloseCode.MESSAGE_TOO_BIG),
        (Frame(Opcode.TEXT, b"masked"), CloseCode.PROTOCOL_ERROR),
    ],
)
async def test_a_frame_websockets_refuses_still_fails_the_connection(frame: Frame, code: CloseCode) -> None:
    ws, server, transport = _connection(max_size=1024)
    server.send_text(b"before")
    head = b"".join(server.data_to_send())
    masked = frame.data == b"masked"
    ws.data_received(head + frame.serialize(mask=masked) + b"ignored")
    assert list(ws.messages) == [b"before"]
    assert ws.protocol.state is State.CLOSING
    server.receive_data(bytes(transport.written))
    close = next(event for event in server.events_received() if isinstance(event, Frame))
    assert close.opcode is Opcode.CLOSE and int.from_bytes(close.data[:2], "big") == code


async def test_reading_pauses_while_many_messages_wait() -> None:
    ws, server, transport = _connection()
    for index in range(MAX_QUEUED + 5):
        server.send_text(str(index).encode())
    ws.data_received(b"".join(server.data_to_send()))
    assert len(ws.messages) == MAX_QUEUED + 5 and not transport.reading
    await ws.wait()
    assert transport.reading


async def test_plain_frames_never_reach_the_websockets_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Final text and binary frames of every length encoding are split off here (websockets' parser would work
    too, only slower: this is what keeps the fast path from silently falling back)."""
    ws, server, _ = _connection()
    head = b"".join(server.data_to_send())
    payloads = [b"a", b"b" * 126, b"c" * 65536]
    for payload in payloads:
        server.send_text(payload)
    server.send_binary(b"\x01")
    stream = head + b"".join(server.data_to_send())
    ws.data_received(stream[: len(head) + 1])
    fed: list[bytes] = []
    monkeypatch.setattr(ws.protocol, "receive_data", fed.append)
    assert _feed(ws, stream[len(head) + 1 :], 100) == [*payloads, b"\x01"]
    assert fed == []
