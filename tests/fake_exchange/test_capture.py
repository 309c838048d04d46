"""Recording sent frames to JSONL and serving a capture back (ours, and the shared real captures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.fake_exchange.playback import load_capture
from tests.fake_exchange.helpers import collect, connected, recv, running, subscribe

SHARED_CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "kucoin" / "captures"


async def test_capture_file_holds_every_sent_frame_with_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    async with running(capture_path=path) as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/tickerV2:XBTUSDTM")
        fx.clock.advance(1_000)
        received = await collect(ws, 5)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["kind"] for line in lines[:2]] == ["control", "control"]
    data = [line for line in lines if line["kind"] == "data"]
    assert [json.dumps(d["payload"], separators=(",", ":")) for d in data[:5]] == received
    assert all(isinstance(line["ts_ns"], int) and line["conn"] == "c1" for line in lines)


async def test_a_recorded_capture_plays_back_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    async with running(capture_path=path) as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/level2Depth5:XBTUSDTM,ETHUSDTM")
        fx.clock.advance(500)
        original = await collect(ws, 10)
    async with running(playback_path=path, max_rate=True) as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/level2Depth5:XBTUSDTM")
        replayed = await collect(ws, 5)
    assert replayed == [t for t in original if "XBTUSDTM" in t][:5]


@pytest.mark.skipif(not SHARED_CAPTURES.is_dir(), reason="shared captures not present")
async def test_the_shared_real_captures_play_back_with_their_exact_spellings() -> None:
    path = SHARED_CAPTURES / "ws_tickerV2.jsonl"
    capture = load_capture(path)
    assert "/contractMarket/tickerV2:BABYUSDTM" in capture.topics
    async with running(playback_path=path, max_rate=True) as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/tickerV2:XBTUSDTM")
        frames = await collect(ws, 5)
    assert '"ts":1654032807465857723' in frames[0]  # a 2022 frame: no sn, ts before bestAskSize
    assert frames[1].startswith(
        '{"topic":"/contractMarket/tickerV2:XBTUSDTM","type":"message","subject":"tickerV2","sn":'
    )


@pytest.mark.skipif(not SHARED_CAPTURES.is_dir(), reason="shared captures not present")
async def test_playback_accepts_topics_only_the_capture_has() -> None:
    async with running(playback_path=SHARED_CAPTURES / "ws_candle.jsonl", max_rate=True) as fx, connected(fx) as ws:
        await subscribe(ws, "/contractMarket/candle:XBTUSDTM_10080")
        frame = json.loads(await recv(ws))
    assert frame["topic"] == "/contractMarket/candle:XBTUSDTM_10080"
