"""How fast the max-rate fake exchange serves one client connection (``python -m ops.bench.fake_exchange``).

The fake runs in its own process (the CLI, as in the producer benchmarks); this process is the client. Two
clients read one stream of many symbols for a few seconds each, on fresh connections:

- ``raw``: the handshake and the subscription through websockets' sans-I/O protocol, then the socket read in
  1 MiB chunks whose frames are counted from their headers, never decoded. It costs a fraction of what the
  server spends per frame, so its figure is what the server can serve to one connection.
- ``websockets``: a plain ``websockets`` client receiving every message, as a producer's I/O layer does.

Besides frames/s, the server's frames per CPU-second (its ``/proc`` CPU time over the window) show the server's
own cost, which holds however loaded the machine is; the client's CPU share shows it was not the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import websockets
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from ops.arguments import positive_number
from ops.bench.report import Figure
from ops.fake_exchange.framing import FrameCounter, parse_header

__all__ = [
    "CHANNELS",
    "Result",
    "cpu_seconds",
    "fake_exchange_process",
    "figures",
    "main",
    "measure_raw",
    "measure_websockets",
]

CHANNELS = ("tickerV2", "level2Depth50")
_URL = re.compile(r"REST (http://\S+)")
_WARM_UP_FRAMES = 1000
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Result:
    """Frames and payload bytes one client received on one stream in ``seconds``, and the CPU seconds the server
    and the client spent meanwhile."""

    client: str
    channel: str
    frames: int
    nbytes: int
    seconds: float
    server_cpu_s: float | None
    client_cpu_s: float

    @property
    def rate(self) -> float:
        """Frames per second."""
        return self.frames / self.seconds

    @property
    def per_cpu_second(self) -> float | None:
        """Frames per CPU-second of the server, if its CPU time is known."""
        return self.frames / self.server_cpu_s if self.server_cpu_s else None

    def __str__(self) -> str:
        megabytes = self.nbytes / self.seconds / 1e6
        text = f"{self.client:<10} {self.channel:<14} {self.rate:>10,.0f} frames/s  {megabytes:>6.1f} MB/s"
        if self.server_cpu_s and self.per_cpu_second:
            load = self.server_cpu_s / self.seconds
            text += f"  server {load:>4.0%} CPU, {self.per_cpu_second:>9,.0f} frames per CPU-second;"
        return f"{text}  client {self.client_cpu_s / self.seconds:>4.0%} CPU"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def fake_exchange_process(symbols: int, *, max_rate: bool = True) -> Iterator[tuple[str, int]]:
    """Start the fake (max-rate unless told otherwise, no in-memory recording) in a subprocess; yields its REST
    URL and pid."""
    command = [sys.executable, "-m", "ops.fake_exchange.cli", "--port", "0", "--no-keep-frames"]
    command += ["--symbols", str(symbols), *(["--max-rate"] if max_rate else [])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = _URL.search(process.stdout.readline())
        if match is None:
            raise RuntimeError("the fake exchange did not report its URL")
        yield match.group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _connect_url(rest_url: str) -> str:
    """A WebSocket URL with a fresh token, from ``bullet-public``."""
    data = httpx.post(f"{rest_url}/api/v1/bullet-public").json()["data"]
    return f"{data['instanceServers'][0]['endpoint']}?token={data['token']}&connectId=bench"


def _subscribe(channel: str, symbols: list[str]) -> str:
    topic = f"/contractMarket/{channel}:{','.join(symbols)}"
    return json.dumps({"id": "1", "type": "subscribe", "topic": topic, "response": True})


class _Window:
    """The measuring window: wall time, and the CPU time of the server and of this process, from creation to
    :meth:`result`."""

    def __init__(self, seconds: float, server_pid: int | None) -> None:
        self._pid = server_pid
        self._server_cpu = cpu_seconds(server_pid) if server_pid else None
        self._client_cpu = time.process_time()
        self.started = time.perf_counter()
        self.deadline = self.started + seconds

    def result(self, client: str, channel: str, frames: int, nbytes: int) -> Result:
        """What was received in the window."""
        elapsed = time.perf_counter() - self.started
        client_cpu = time.process_time() - self._client_cpu
        cpu = cpu_seconds(self._pid) if self._pid else None
        server_cpu = cpu - self._server_cpu if cpu is not None and self._server_cpu is not None else None
        return Result(client, channel, frames, nbytes, elapsed, server_cpu, client_cpu)


async def measure_websockets(
    url: str, channel: str, symbols: list[str], seconds: float, server_pid: int | None = None
) -> Result:
    """Subscribe ``channel`` for ``symbols`` with a ``websockets`` client and count messages for ``seconds``."""
    async with websockets.connect(url, compression=None, max_queue=None, max_size=None) as ws:
        await ws.recv()
        await ws.send(_subscribe(channel, symbols))
        await ws.recv()
        for _ in range(_WARM_UP_FRAMES):
            await ws.recv()
        frames = nbytes = 0
        window = _Window(seconds, server_pid)
        while True:
            nbytes += len(await ws.recv())
            frames += 1
            if frames % 1000 == 0 and time.perf_counter() >= window.deadline:
                return window.result("websockets", channel, frames, nbytes)


def _receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(_CHUNK)
    if not chunk:
        raise ConnectionError("the fake exchange closed the connection")
    return chunk


def _next_message(sock: socket.socket, buffer: bytes) -> tuple[str, bytes]:
    """The next server message on a raw socket (with ``buffer`` already read), and the bytes read past it."""
    while True:
        header = parse_header(buffer, 0)
        if header is not None and len(buffer) >= sum(header):
            start, size = header
            return buffer[start : start + size].decode(), buffer[start + size :]
        buffer += _receive(sock)


def _open_raw(url: str) -> tuple[socket.socket, ClientProtocol, bytes]:
    """A WebSocket past its handshake on a plain socket: the socket, its protocol (to send masked client frames)
    and the bytes received after the HTTP response."""
    uri = parse_uri(url)
    protocol = ClientProtocol(uri)
    protocol.send_request(protocol.connect())
    sock = socket.create_connection((uri.host, uri.port))
    sock.sendall(b"".join(protocol.data_to_send()))
    response = b""
    while b"\r\n\r\n" not in response:
        response += _receive(sock)
    head, separator, rest = response.partition(b"\r\n\r\n")
    protocol.receive_data(head + separator)
    if protocol.handshake_exc is not None:
        raise protocol.handshake_exc
    return sock, protocol, rest


def measure_raw(url: str, channel: str, symbols: list[str], seconds: float, server_pid: int | None = None) -> Result:
    """Subscribe ``channel`` for ``symbols`` on a raw socket and count frames by their headers for ``seconds``."""
    sock, protocol, buffer = _open_raw(url)
    with closing(sock):
        _, buffer = _next_message(sock, buffer)  # welcome
        protocol.send_text(_subscribe(channel, symbols).encode())
        sock.sendall(b"".join(protocol.data_to_send()))
        ack, buffer = _next_message(sock, buffer)
        if json.loads(ack).get("type") != "ack":
            raise ConnectionError(f"subscription refused: {ack}")
        counter = FrameCounter()
        counter.feed(buffer)
        while counter.frames < _WARM_UP_FRAMES:
            counter.feed(_receive(sock))
        frames, nbytes = counter.frames, counter.payload_bytes
        window = _Window(seconds, server_pid)
        while time.perf_counter() < window.deadline:
            counter.feed(_receive(sock))
        return window.result("raw", channel, counter.frames - frames, counter.payload_bytes - nbytes)


def _measure_streams(
    rest_url: str, server_pid: int, symbols: int, seconds: float, *, websockets_client: bool = True
) -> list[Result]:
    """Each stream with the raw client, then (if asked) with the websockets client, each on a new connection."""
    contracts = httpx.get(f"{rest_url}/api/v1/contracts/active").json()["data"]
    names = [c["symbol"] for c in contracts][:symbols]
    results = [measure_raw(_connect_url(rest_url), channel, names, seconds, server_pid) for channel in CHANNELS]
    if websockets_client:
        for channel in CHANNELS:
            coroutine = measure_websockets(_connect_url(rest_url), channel, names, seconds, server_pid)
            results.append(asyncio.run(coroutine))
    return results


def figures(symbols: int = 50, seconds: float = 4.0) -> list[Figure]:
    """Per stream: frames/s the max-rate fake serves to one connection (raw client), frames/s one websockets
    client takes in, and frames per server CPU-second (the fake must out-run the producers)."""
    with fake_exchange_process(max(symbols, 20)) as (rest_url, pid):
        results = _measure_streams(rest_url, pid, symbols, seconds)
    cases = {"raw": "frames served to one connection", "websockets": "frames into one websockets client"}
    found = [Figure("fake exchange", f"{r.channel} {cases[r.client]}", "ours", r.rate, "frames/s") for r in results]
    found += [
        Figure("fake exchange", f"{r.channel} frames per server CPU-second", "ours", r.per_cpu_second, "frames/CPU-s")
        for r in results
        if r.client == "raw" and r.per_cpu_second is not None
    ]
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print frames/s per stream and client."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.bench.fake_exchange", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=50, help="symbols subscribed per stream (default %(default)s)")
    parser.add_argument(
        "--seconds", type=positive_number, default=5.0, help="measuring time per stream (default %(default)s)"
    )
    parser.add_argument("--raw-only", action="store_true", help="skip the websockets client")
    args = parser.parse_args(argv)
    with fake_exchange_process(max(args.symbols, 20)) as (rest_url, pid):
        results = _measure_streams(rest_url, pid, args.symbols, args.seconds, websockets_client=not args.raw_only)
    print(f"fake exchange, max-rate, one client connection, {args.symbols} symbols per stream:")
    for result in results:
        print(f"  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
