"""How fast the fake exchange serves one websockets client in max-rate mode (``python -m ops.bench.fake_exchange``).

The fake runs in its own process (the CLI, as in the producer benchmarks); this process is the client: one
``websockets`` connection that subscribes a stream for many symbols and counts frames for a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import websockets

from ops.bench.report import Figure

__all__ = ["Result", "figures", "main", "measure"]

_URL = re.compile(r"REST (http://\S+)")


@dataclass(frozen=True, slots=True)
class Result:
    """Frames and bytes received on one stream in ``seconds``, and the server's CPU seconds meanwhile."""

    channel: str
    frames: int
    nbytes: int
    seconds: float
    server_cpu_s: float | None = None

    def __str__(self) -> str:
        rate = self.frames / self.seconds
        text = f"{self.channel:<14} {rate:>10,.0f} frames/s  {self.nbytes / self.seconds / 1e6:>7.1f} MB/s"
        if self.server_cpu_s:
            per_cpu_s = self.frames / self.server_cpu_s
            text += f"  (server {self.server_cpu_s / self.seconds:.0%} CPU, {per_cpu_s:,.0f} frames per CPU-second)"
        return text


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


async def measure(
    rest_url: str, channel: str, symbols: list[str], seconds: float, server_pid: int | None = None
) -> Result:
    """Subscribe ``channel`` for ``symbols`` on a fresh connection and count frames for ``seconds``."""
    async with httpx.AsyncClient(base_url=rest_url) as http:
        data = (await http.post("/api/v1/bullet-public")).json()["data"]
    url = f"{data['instanceServers'][0]['endpoint']}?token={data['token']}&connectId=bench"
    async with websockets.connect(url, compression=None, max_queue=None, max_size=None) as ws:
        await ws.recv()
        topic = f"/contractMarket/{channel}:{','.join(symbols)}"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "topic": topic, "response": True}))
        await ws.recv()
        for _ in range(1000):  # warm-up
            await ws.recv()
        frames = nbytes = 0
        cpu_before = cpu_seconds(server_pid) if server_pid else None
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            message = await ws.recv()
            frames += 1
            nbytes += len(message)
            if frames % 1000 == 0 and time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(server_pid) if server_pid else None
        server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        return Result(channel, frames, nbytes, elapsed, server_cpu)


async def _run(rest_url: str, pid: int, symbols: int, seconds: float) -> list[Result]:
    async with httpx.AsyncClient(base_url=rest_url) as http:
        contracts = (await http.get("/api/v1/contracts/active")).json()["data"]
    names = [c["symbol"] for c in contracts][:symbols]
    return [await measure(rest_url, channel, names, seconds, pid) for channel in ("tickerV2", "level2Depth50")]


def figures(symbols: int = 50, seconds: float = 4.0) -> list[Figure]:
    """Frames/s the max-rate fake serves to one client, per stream (it must out-run the producers)."""
    with fake_exchange_process(max(symbols, 20)) as (rest_url, pid):
        results = asyncio.run(_run(rest_url, pid, symbols, seconds))
    return [
        Figure("fake exchange", f"{r.channel} frames to one client", "ours", r.frames / r.seconds, "frames/s")
        for r in results
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print frames/s per stream."""
    parser = argparse.ArgumentParser(prog="python -m ops.bench.fake_exchange", description=__doc__)
    parser.add_argument("--symbols", type=int, default=50, help="symbols subscribed per stream (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per stream (default %(default)s)")
    args = parser.parse_args(argv)
    with fake_exchange_process(max(args.symbols, 20)) as (rest_url, pid):
        results = asyncio.run(_run(rest_url, pid, args.symbols, args.seconds))
    print(f"fake exchange, max-rate, one websockets client, {args.symbols} symbols per stream:")
    for result in results:
        print(f"  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
