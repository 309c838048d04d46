"""The fake exchange's settings: one frozen value object, real KuCoin behaviour by default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ops.fake_exchange.session import SessionLimits

__all__ = ["DEFAULT_REST_WEIGHTS", "FakeExchangeConfig"]

DEFAULT_REST_WEIGHTS: Mapping[str, int] = MappingProxyType(
    {
        "/api/v1/bullet-public": 10,
        "/api/v1/contracts/active": 3,
        "/api/v1/kline/query": 3,
        "/api/v1/level2/snapshot": 3,
        "/api/v1/level2/depth20": 5,
        "/api/v1/level2/depth100": 5,
        "/api/v1/timestamp": 1,
    }
)


@dataclass(frozen=True, slots=True)
class FakeExchangeConfig:
    """How the fake behaves.

    Market: ``seed``; ``symbols`` (how many contracts of the universe, or which symbols); ``start_ms`` the fake
    time at start (None: the wall clock); ``speed`` fake seconds per real second (0 freezes the clock; use
    ``fx.clock.advance``); ``history_ms`` how far back trades (so klines) exist.

    Wire: ``max_rate`` pushes frames as fast as the client reads, ignoring the clock (and declines
    permessage-deflate); ``candle_turnover_first`` swaps the last two candle columns as the 2026 live capture
    shows. ``capture_path`` appends every sent frame to a JSONL file; ``playback_path`` serves a capture
    instead of the model; ``record_delivered`` keeps every sent frame in memory for ``fx.recorder``.

    Limits (real seconds unless noted): ``idle_timeout_s`` without a client message closes with 1000 Bye
    (after a ``ping timeout`` error frame if ``idle_error_frame``); ``token_lifetime_ms`` of FAKE time;
    ``session_limits``; REST ``rest_limit`` weight per ``rest_window_s``; a client whose frames are more than
    ``slow_consumer_lag_s`` late is disconnected.
    """

    seed: int = 1
    symbols: int | tuple[str, ...] = 50
    start_ms: int | None = None
    speed: float = 1.0
    history_ms: int = 86_400_000
    host: str = "127.0.0.1"
    port: int = 0
    max_rate: bool = False
    candle_turnover_first: bool = False
    capture_path: Path | None = None
    playback_path: Path | None = None
    record_delivered: bool = True
    ping_interval_ms: int = 18_000
    ping_timeout_ms: int = 10_000
    idle_timeout_s: float = 60.0
    idle_error_frame: bool = True
    token_lifetime_ms: int = 86_400_000
    session_limits: SessionLimits = field(default_factory=SessionLimits)
    rest_limit: int = 2000
    rest_window_s: float = 30.0
    rest_weights: Mapping[str, int] = field(default_factory=lambda: DEFAULT_REST_WEIGHTS)
    kline_limit: int = 500
    snapshot_levels: int = 100
    slow_consumer_lag_s: float = 5.0
    tick_s: float = 0.01
