"""Serving a capture back: JSONL lines whose ``payload`` is a frame, pushed to whoever subscribes its topic.

Reads the fake's own captures (:class:`~ops.fake_exchange.recorder.Recorder`) and the shared real captures
(``{"source":..,"payload":{...}}``) alike. The payload text is served verbatim, so number spellings survive.
Only data pushes (``"type":"message"`` with a topic) are played; control frames come from the live protocol.
Pacing follows the lines' ``ts_ns`` (scaled by the clock's speed), else one frame per ``interval_ns``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ops.fake_exchange.session import TOPIC_ROOT, Subscription
from ops.fake_exchange.streams import Frame

__all__ = ["Capture", "PlaybackFeed", "load_capture"]

_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Capture:
    """The data frames of a capture file: each with its offset from the first frame in ns."""

    frames: tuple[Frame, ...]

    @property
    def topics(self) -> frozenset[str]:
        """Every topic in the capture."""
        return frozenset(frame.sub.topic for frame in self.frames)


def _raw_payload(line: str, parsed: object) -> str:
    """The payload's original text: the value after the last ``"payload":`` key, if it parses to ``parsed``."""
    at = line.rfind('"payload":')
    if at >= 0:
        start = at + len('"payload":')
        while line[start].isspace():
            start += 1
        value, end = _DECODER.raw_decode(line, start)
        if value == parsed:
            return line[start:end]
    return json.dumps(parsed, separators=(",", ":"))


def _subscription(topic: str) -> Subscription:
    prefix, _, arg = topic.partition(":")
    channel = prefix.removeprefix(TOPIC_ROOT) if prefix.startswith(TOPIC_ROOT) else prefix
    return Subscription(channel, arg)


def _int_field(data: object, *names: str) -> int:
    if isinstance(data, dict):
        for name in names:
            value = data.get(name)
            if isinstance(value, int):
                return value
    return 0


def load_capture(path: Path, interval_ns: int = 100_000_000) -> Capture:
    """Read the data frames of a JSONL capture; lines without a timestamp are spaced ``interval_ns`` apart."""
    frames: list[Frame] = []
    first_ts: int | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        record = json.loads(line)
        payload = record.get("payload") if isinstance(record, dict) else None
        if not isinstance(payload, dict) or payload.get("type") != "message" or "topic" not in payload:
            continue
        stamp = record.get("ts_ns")
        if isinstance(stamp, int):
            first_ts = stamp if first_ts is None else first_ts
            offset = stamp - first_ts
        else:
            offset = number * interval_ns
        data = payload.get("data")
        frames.append(
            Frame(
                offset,
                _subscription(str(payload["topic"])),
                _int_field(data, "sequence"),
                _int_field(data, "ts", "time", "timestamp"),
                _raw_payload(line, payload),
            )
        )
    return Capture(tuple(frames))


class PlaybackFeed:
    """A connection's view of a capture: the timeline starts at its first subscription."""

    def __init__(self, capture: Capture, burst_size: int = 256) -> None:
        self._frames = capture.frames
        self._burst_size = burst_size
        self._subs: frozenset[Subscription] = frozenset()
        self._start_ns: int | None = None
        self._next = 0

    def sync(self, subs: Iterable[Subscription], now_ns: int) -> None:
        self._subs = frozenset(subs)
        if self._subs and self._start_ns is None:
            self._start_ns = now_ns

    def due(self, now_ns: int) -> list[Frame]:
        if self._start_ns is None:
            return []
        elapsed = now_ns - self._start_ns
        out: list[Frame] = []
        while self._next < len(self._frames) and self._frames[self._next].t_ns <= elapsed:
            frame = self._frames[self._next]
            if frame.sub in self._subs:
                out.append(frame._replace(t_ns=self._start_ns + frame.t_ns))
            self._next += 1
        return out

    def burst(self) -> list[Frame]:
        if self._start_ns is None or self._next >= len(self._frames):
            return []
        limit = min(len(self._frames), self._next + self._burst_size)
        return self.due(self._start_ns + self._frames[limit - 1].t_ns)
