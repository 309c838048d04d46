"""The KuCoin Futures protocol core of the producers, without I/O (bytes and ``now`` in, decisions out).

Modules, one job each: :mod:`.frames` (WebSocket frame -> event), :mod:`.session` (one connection's state
machine and timers), :mod:`.subscriptions` (sharding, subscribe messages, acks), :mod:`.sequencing` (what to
publish), :mod:`.ratelimit` (client message limit), :mod:`.backoff` (reconnect delays), :mod:`.rest`
(envelopes, errors, bullet token, rate-limit headers), :mod:`.contracts` (symbol selection), :mod:`.klines`
(REST candles and paging), :mod:`.topics` (topic names), :mod:`.lossless` (exact-decimal JSON),
:mod:`.exceptions`.
"""

from __future__ import annotations

from .exceptions import KucoinError
from .frames import FrameParser, parse_frame
from .sequencing import Sequencer
from .session import Session, SessionConfig
from .topics import Stream, Topic

__all__ = [
    "FrameParser",
    "KucoinError",
    "Sequencer",
    "Session",
    "SessionConfig",
    "Stream",
    "Topic",
    "parse_frame",
]
