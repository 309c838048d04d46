"""Typed records of the pipeline: what the producers publish and the processors and replay read.

Each class mirrors one Avro schema in this folder field for field (``<name>.avsc``). Exchange decimals are kept
as the exact decimal text the exchange sent (``"88987.4"``, ``"31528.00000000"``, ``"2.0E-4"``), so they round-trip
byte for byte; convert with :class:`decimal.Decimal` where arithmetic is needed, never through ``float``.
Timestamps are integers with their unit in the field name (``_ns`` nanoseconds, ``_ms`` milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeadLetter", "Depth50", "Kline", "TickerV2"]


@dataclass(frozen=True, slots=True)
class TickerV2:
    """One ``/contractMarket/tickerV2`` push: the best bid and ask of one contract."""

    symbol: str
    sequence: int
    best_bid_price: str
    best_bid_size: str
    best_ask_price: str
    best_ask_size: str
    exchange_ts_ns: int
    receive_ts_ns: int


@dataclass(frozen=True, slots=True)
class Depth50:
    """One ``/contractMarket/level2Depth50`` push: the top levels of each side of one contract's book.

    Each side is two parallel tuples (prices, sizes), best level first: bids descending, asks ascending. Parallel
    arrays rather than a tuple of level objects keep parsing, Avro encoding and decoding several times cheaper at
    tens of thousands of books per second.
    """

    symbol: str
    sequence: int
    bid_prices: tuple[str, ...]
    bid_sizes: tuple[str, ...]
    ask_prices: tuple[str, ...]
    ask_sizes: tuple[str, ...]
    exchange_ts_ms: int
    receive_ts_ns: int


@dataclass(frozen=True, slots=True)
class Kline:
    """One closed candle of one contract at one granularity (minutes), as ``/api/v1/kline/query`` returns it.

    ``turnover`` is ``None`` where the exchange sent 6-column rows without it.
    """

    symbol: str
    granularity_min: int
    open_time_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    turnover: str | None
    receive_ts_ns: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input the producer could not turn into a record, kept byte for byte with the reason."""

    source: str
    reason: str
    raw: bytes
    receive_ts_ns: int
