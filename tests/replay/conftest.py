"""Market data in real topics, made by the pipeline's own jobs from the fake exchange, shared (read-only) by the
integration tests of this folder. The tests expect what a plain consumer reads back from the topics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from ops.stack.local import Endpoints
from schemas.catalog import by_name
from tests.replay.data import T0_MS, Published, read_back
from tests.support.market import MarketRun, produce_market
from tests.support.producer import fresh_topics

PARTITIONS = 3
SYMBOLS = ("XBTUSDTM", "ETHUSDTM", "XBTUSDM", "ETHUSDM")
"""Two linear and two inverse contracts; the producer's partitioner puts the first two in one partition."""
STREAM_MS = 90_000
MINUTE_MS = 60_000
RUN = MarketRun(SYMBOLS, T0_MS, STREAM_MS, kline_starts_ms=(T0_MS - 10 * MINUTE_MS, T0_MS - 20 * MINUTE_MS))
"""90 s of tickerV2 and Depth50 from T0_MS on; 1-minute klines from T0_MS - 10 min to T0_MS, then (a second
backfill, published after them) from T0_MS - 20 min to T0_MS - 10 min."""


@dataclass(frozen=True, slots=True)
class MarketData:
    """Topics holding tickers, books and klines, and what a plain consumer reads back from each."""

    ticker: str
    depth: str
    kline: str
    contents: dict[str, list[Published]]

    def schemas(self) -> dict[str, str]:
        return {self.ticker: "ticker_v2", self.depth: "depth50", self.kline: "kline"}


@pytest.fixture(scope="session")
def market(services: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> MarketData:
    topics = fresh_topics("replay", services.bootstrap_servers, PARTITIONS)
    asyncio.run(produce_market(services, topics, tmp_path_factory.mktemp("spill"), RUN))
    names = {topics.ticker_v2: "ticker_v2", topics.depth50: "depth50", topics.kline: "kline"}
    contents = {
        topic: read_back(services.bootstrap_servers, services.schema_registry_url, topic, by_name(name))
        for topic, name in names.items()
    }
    return MarketData(topics.ticker_v2, topics.depth50, topics.kline, contents)
