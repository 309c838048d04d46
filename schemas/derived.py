"""Typed records the processors derive: bars, imbalance and late events.

Each class mirrors one Avro schema in this folder field for field (``ticker_bar.avsc``, ``kline_bar.avsc``,
``imbalance.avsc``, ``imbalance_bar.avsc``, ``late_event.avsc``; nested records are defined inside the schema
that uses them). Exchange prices stay exact decimal text; ratios and means are floats (Avro ``double``);
timestamps are integers with their unit in the field name. ``dataclasses.asdict`` gives the Avro datum.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DepthImbalance",
    "DepthImbalanceStats",
    "Imbalance",
    "ImbalanceBar",
    "KlineBar",
    "LateEvent",
    "Stats",
    "TickerBar",
]


@dataclass(frozen=True, slots=True)
class TickerBar:
    """Mid-price bar of one contract over one epoch-aligned event-time interval (``ticker_bar.avsc``)."""

    symbol: str
    interval_ms: int
    bar_start_ms: int
    bar_end_ms: int
    open_mid: str
    high_mid: str
    low_mid: str
    close_mid: str
    close_bid_price: str
    close_ask_price: str
    spread_mean: float
    spread_max: float
    update_count: int
    first_sequence: int
    last_sequence: int
    first_exchange_ts_ns: int
    last_exchange_ts_ns: int


@dataclass(frozen=True, slots=True)
class KlineBar:
    """OHLCV candle rolled up from 1-minute klines, aligned like KuCoin's own (``kline_bar.avsc``)."""

    symbol: str
    granularity_min: int
    bar_start_ms: int
    bar_end_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    turnover: str | None
    candle_count: int


@dataclass(frozen=True, slots=True)
class DepthImbalance:
    """Imbalance over the best ``depth`` levels of each side of one snapshot."""

    depth: int
    size_imbalance: float | None
    notional_imbalance: float | None


@dataclass(frozen=True, slots=True)
class Imbalance:
    """Imbalance of one order-book snapshot (``imbalance.avsc``)."""

    symbol: str
    sequence: int
    exchange_ts_ms: int
    best_bid_price: str | None
    best_ask_price: str | None
    mid_price: str | None
    microprice: float | None
    spread_bps: float | None
    depths: tuple[DepthImbalance, ...]


@dataclass(frozen=True, slots=True)
class Stats:
    """Mean, last, min and max of one derived value over a bar (``null`` where nothing is known)."""

    count: int
    mean: float | None
    last: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class DepthImbalanceStats:
    """Imbalance statistics at one depth over a bar."""

    depth: int
    size_imbalance: Stats
    notional_imbalance: Stats


@dataclass(frozen=True, slots=True)
class ImbalanceBar:
    """Per-interval imbalance statistics of one contract (``imbalance_bar.avsc``)."""

    symbol: str
    interval_ms: int
    bar_start_ms: int
    bar_end_ms: int
    snapshot_count: int
    first_sequence: int
    last_sequence: int
    spread_bps: Stats
    depths: tuple[DepthImbalanceStats, ...]


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An input a windowed processor could not put into a bar (``late_event.avsc``)."""

    processor: str
    reason: str
    symbol: str
    interval_ms: int
    bar_start_ms: int
    bar_end_ms: int
    event_ts_ns: int
    watermark_ms: int
    sequence: int | None
    receive_ts_ns: int
