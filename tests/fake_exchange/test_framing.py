"""RFC 6455 framing of server frames: headers checked against websockets' own encoder, and the frame counter
fed the same stream in chunks of every size."""

from __future__ import annotations

import random

import pytest
from websockets.frames import Frame, Opcode

from ops.fake_exchange.framing import FrameCounter, frame_header, parse_header, text_frames

SIZES = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]


@pytest.mark.parametrize("size", SIZES)
def test_text_frames_are_what_websockets_serialises(size: int) -> None:
    text = "x" * size
    assert text_frames([text]) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


@pytest.mark.parametrize("size", SIZES)
def test_parse_header_reads_back_the_header(size: int) -> None:
    data = frame_header(size) + b"\0" * size
    start, length = parse_header(data, 0) or (0, 0)
    assert (start + length, length) == (len(data), size)
    assert parse_header(data[: start - 1], 0) is None


def test_non_ascii_payloads_are_framed_by_their_bytes() -> None:
    assert text_frames(["é"]) == b"\x81\x02\xc3\xa9"


def test_the_counter_counts_frames_split_anywhere() -> None:
    texts = [("y" * random.Random(size).randrange(300)) + str(size) for size in range(200)] + ["z" * 70_000]
    stream = text_frames(texts)
    payload = sum(len(t) for t in texts)
    for chunk in (1, 2, 3, 7, 64, 4096, len(stream)):
        counter = FrameCounter()
        for start in range(0, len(stream), chunk):
            counter.feed(stream[start : start + chunk])
        assert (counter.frames, counter.payload_bytes) == (len(texts), payload)


def test_masked_or_compressed_frames_are_refused() -> None:
    with pytest.raises(ValueError):
        FrameCounter().feed(Frame(Opcode.TEXT, b"hi").serialize(mask=True))
    with pytest.raises(ValueError):
        FrameCounter().feed(b"\xc1\x02hi")  # RSV1: permessage-deflate
