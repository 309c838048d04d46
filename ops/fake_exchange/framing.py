"""RFC 6455 framing of server frames, pure: what the batched sender writes, and a counter that walks a
byte stream of such frames (benchmark clients count what a server sends without decoding it).

Server frames are never masked, and the fake never compresses in max-rate mode, so a text frame is a 2, 4 or
10 byte header (section 5.2) followed by the payload.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

__all__ = ["FrameCounter", "frame_header", "parse_header", "text_frames"]

_SHORT = tuple(bytes((0x81, size)) for size in range(126))
_MEDIUM = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack


def frame_header(size: int) -> bytes:
    """The header of an unmasked, uncompressed, final text frame with a ``size``-byte payload."""
    if size < 126:
        return _SHORT[size]
    if size < 1 << 16:
        return _MEDIUM(0x81, 126, size)
    return _LONG(0x81, 127, size)


def text_frames(texts: Iterable[str]) -> bytes:
    """One text frame per text, back to back."""
    return b"".join([frame_header(len(payload)) + payload for payload in map(str.encode, texts)])


def parse_header(data: bytes, pos: int) -> tuple[int, int] | None:
    """``(payload start, payload size)`` of the server frame whose header starts at ``data[pos]``; None when the
    header is not complete yet. ``ValueError`` for a masked frame or reserved bits (no server frame of an
    uncompressed connection has them)."""
    if len(data) - pos < 2:
        return None
    first, size = data[pos], data[pos + 1]
    if first & 0x70 or size & 0x80:
        raise ValueError(f"not an unmasked, uncompressed server frame: {data[pos : pos + 2].hex()}")
    if size < 126:
        return pos + 2, size
    start = pos + (4 if size == 126 else 10)
    if len(data) < start:
        return None
    return start, int.from_bytes(data[pos + 2 : start], "big")


class FrameCounter:
    """Counts the frames (and payload bytes) of a server byte stream fed in chunks of any size."""

    __slots__ = ("_carry", "_skip", "frames", "payload_bytes")

    def __init__(self) -> None:
        self.frames = 0
        self.payload_bytes = 0
        self._carry = b""  # an incomplete header at the end of the last chunk
        self._skip = 0  # payload bytes of the last frame that are still to come

    def feed(self, data: bytes) -> None:
        """Account for the next bytes of the stream."""
        if self._carry:
            data = self._carry + data
            self._carry = b""
        pos, end = self._skip, len(data)
        frames = payload = 0
        while pos < end:
            header = parse_header(data, pos)
            if header is None:
                self._carry = data[pos:]
                pos = end
                break
            start, size = header
            pos = start + size
            frames += 1
            payload += size
        self._skip = pos - end
        self.frames += frames
        self.payload_bytes += payload
