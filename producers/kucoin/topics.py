"""Names of the KuCoin Futures market-data topics the producers subscribe to."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple

__all__ = ["TOPIC_PREFIX", "Stream", "Topic", "topic_name"]

TOPIC_PREFIX = "/contractMarket/"


class Stream(StrEnum):
    """A per-contract channel; the value is the channel's name in the topic."""

    TICKER_V2 = "tickerV2"
    DEPTH5 = "level2Depth5"
    DEPTH50 = "level2Depth50"


class Topic(NamedTuple):
    """One (stream, symbol) subscription: the unit of sharding, acks, sequencing and the silence watchdog.

    A tuple rather than a dataclass so hashing it on every frame stays in C.
    """

    stream: Stream
    symbol: str

    def __str__(self) -> str:
        return topic_name(self.stream, (self.symbol,))


def topic_name(stream: Stream, symbols: Iterable[str]) -> str:
    """``/contractMarket/tickerV2:A,B``: several symbols of one stream share one subscribe message."""
    return f"{TOPIC_PREFIX}{stream.value}:{','.join(symbols)}"
