"""What fastavro makes of a record, the reference every fast encoder is held to."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.codec import AvroCodec, to_datum


def fastavro_payload(codec: AvroCodec[Any], record: Any) -> bytes:
    """``record`` framed and encoded by fastavro (the codec's slow path)."""
    return codec.encode_datum(to_datum(record))


def assert_codec_agrees_with_fastavro(codec: AvroCodec[Any], record: Any) -> None:
    """``codec.encode`` gives fastavro's bytes, or raises what fastavro raises."""
    try:
        expected: bytes | type[BaseException] = fastavro_payload(codec, record)
    except Exception as exc:  # whatever fastavro raises, the codec must raise too
        expected = type(exc)
    if isinstance(expected, bytes):
        assert codec.encode(record) == expected
    else:
        with pytest.raises(expected):
            codec.encode(record)
