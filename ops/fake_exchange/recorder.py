"""Ground truth of what the fake actually sent, and the JSONL capture of it.

Every frame is recorded after the socket accepted it, per connection and in send order, with its kind:
``data`` (a real event), ``duplicate`` and ``malformed`` (injected by faults, never real events) and ``control``
(welcome, ack, pong, error). :meth:`Recorder.delivered` merges the ``data`` frames of one stream across all
connections into the distinct events in exchange order: exactly what a correct producer should have published.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from ops.fake_exchange.session import Subscription
from ops.fake_exchange.streams import Frame

__all__ = ["Delivered", "Recorder"]

Kind = Literal["data", "duplicate", "malformed", "control"]


class Delivered(NamedTuple):
    """One frame as sent on one connection. ``channel``/``arg``/``sequence``/``ts`` are empty for control
    frames; ``sent_ns`` is the real wall-clock instant the socket took it."""

    conn_id: str
    position: int
    kind: Kind
    channel: str
    arg: str
    sequence: int
    ts: int
    sent_ns: int
    text: str

    @property
    def topic(self) -> str:
        """The push topic (empty for control frames)."""
        return Subscription(self.channel, self.arg).topic if self.channel else ""

    def payload(self) -> Any:
        """The frame parsed as JSON (raises ``ValueError`` for ``malformed`` frames)."""
        return json.loads(self.text)


class Recorder:
    """Keeps every sent frame in memory (unless ``keep`` is false) and appends it to a capture file if given.

    Capture lines are ``{"ts_ns":<send wall ns>,"conn":"c1","kind":"data","payload":<frame>}`` (payload last and
    verbatim, so the playback reader and the shared captures use one format); malformed frames are stored as a
    JSON string in ``payload_text`` instead.
    """

    def __init__(self, *, keep: bool = True, capture_path: Path | None = None) -> None:
        self._keep = keep
        self._frames: dict[str, list[Delivered]] = {}
        self._file: IO[str] | None = capture_path.open("a", encoding="utf-8") if capture_path else None

    @property
    def active(self) -> bool:
        """Whether frames are kept or captured (else :meth:`record` does nothing)."""
        return self._keep or self._file is not None

    def record(self, conn_id: str, kind: Kind, text: str, frame: Frame | None = None) -> None:
        """Note one frame the socket accepted."""
        if not self.active:
            return
        sent_ns = time.time_ns()
        if self._keep:
            frames = self._frames.setdefault(conn_id, [])
            if frame is None:
                frames.append(Delivered(conn_id, len(frames), kind, "", "", 0, 0, sent_ns, text))
            else:
                sub = frame.sub
                frames.append(
                    Delivered(conn_id, len(frames), kind, sub.channel, sub.arg, frame.sequence, frame.ts, sent_ns, text)
                )
        if self._file is not None:
            head = f'{{"ts_ns":{sent_ns},"conn":{json.dumps(conn_id)},"kind":"{kind}",'
            body = f'"payload_text":{json.dumps(text)}}}' if kind == "malformed" else f'"payload":{text}}}'
            self._file.write(head + body + "\n")

    def close(self) -> None:
        """Flush and close the capture file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def connections(self) -> list[str]:
        """Ids of the connections that were sent anything, in order of first frame."""
        return list(self._frames)

    def connection_frames(self, conn_id: str) -> list[Delivered]:
        """Every frame sent on one connection, in send order, all kinds."""
        return list(self._frames.get(conn_id, ()))

    def _data(self, channel: str, arg: str) -> Iterator[Delivered]:
        for frames in self._frames.values():
            for d in frames:
                if d.kind == "data" and d.channel == channel and d.arg == arg:
                    yield d

    def delivered(self, channel: str, arg: str) -> list[Delivered]:
        """The distinct real events of one stream sent over all connections, in exchange order.

        ``channel`` is ``tickerV2``, ``level2Depth50``, ``level2Depth5`` or ``limitCandle``; ``arg`` the symbol
        (``XBTUSDTM``) or, for candles, ``XBTUSDTM_1min``. An event is identified by ``(ts, sequence)``, so a
        Depth book resent unchanged (same sequence, new timestamp) counts once per push; use
        :meth:`delivered_books` to collapse those. Duplicates and malformed injections are excluded.
        """
        unique = {(d.ts, d.sequence): d for d in self._data(channel, arg)}
        return [unique[key] for key in sorted(unique)]

    def delivered_books(self, channel: str, symbol: str) -> list[Delivered]:
        """Depth events with repeats of the same sequence dropped (first push of each sequence kept)."""
        books: dict[int, Delivered] = {}
        for d in self.delivered(channel, symbol):
            books.setdefault(d.sequence, d)
        return list(books.values())

    def streams(self) -> list[tuple[str, str]]:
        """``(channel, arg)`` of every stream with at least one delivered data frame."""
        return sorted({(d.channel, d.arg) for frames in self._frames.values() for d in frames if d.kind == "data"})
