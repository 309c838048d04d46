"""A market-data set in real topics, shared by the integration tests of this folder (read-only for them)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from ops.stack.local import Endpoints
from schemas.catalog import by_name
from tests.replay.data import SYMBOLS, Published, depth_books, klines, publish, read_back, tickers
from tests.support.kafka import create_topics, unique_name

PARTITIONS = 3


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
def market(services: Endpoints) -> Iterator[MarketData]:
    """Three symbols over three partitions each (one symbol per partition, as keyed producers spread them)."""
    names = {name: unique_name(f"replay-{name}") for name in ("ticker_v2", "depth50", "kline")}
    create_topics(services.bootstrap_servers, list(names.values()), PARTITIONS)
    data: dict[str, Sequence[Any]] = {"ticker_v2": tickers(6_000), "depth50": depth_books(1_500), "kline": klines(20)}
    contents: dict[str, list[Published]] = {}
    for name, topic in names.items():
        publish(
            services.bootstrap_servers,
            services.schema_registry_url,
            topic,
            by_name(name),
            data[name],
            SYMBOLS.index,
        )
        contents[topic] = read_back(services.bootstrap_servers, services.schema_registry_url, topic, by_name(name))
    yield MarketData(names["ticker_v2"], names["depth50"], names["kline"], contents)
