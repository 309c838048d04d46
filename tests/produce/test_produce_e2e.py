"""End to end: fake exchange -> real producer -> real Kafka; decoded records equal what the fake delivered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ops.fake_exchange import FakeExchange, FakeExchangeConfig
from ops.stack.local import Endpoints
from producers.websocket import StreamsConfig
from schemas.records import Depth50, TickerV2
from tests.support.ground_truth import delivered_books, delivered_tickers, kafka_records, without_receive_time
from tests.support.producer import fresh_topics, running_producer

pytestmark = pytest.mark.integration

SYMBOLS = 6


async def test_every_delivered_event_is_in_kafka_exactly_once_in_order(services: Endpoints, tmp_path: Path) -> None:
    topics = fresh_topics("e2e", services.bootstrap_servers)
    config = FakeExchangeConfig(seed=11, symbols=SYMBOLS, speed=5.0)
    async with FakeExchange(config) as fx:
        async with running_producer(services, fx.rest_url, topics, tmp_path / "spill", StreamsConfig()) as producer:
            await fx.wait_for_connections(1)
            await asyncio.sleep(4)  # 20 s of fake market time
            fx.faults.server_disconnect()  # end the window: nothing more is delivered once closed
            assert await producer.finish() == 0
        symbols = [contract.symbol for contract in fx.market.model.contracts]
        tickers = kafka_records(services.bootstrap_servers, services.schema_registry_url, topics.ticker_v2, TickerV2)
        books = kafka_records(services.bootstrap_servers, services.schema_registry_url, topics.depth50, Depth50)
        assert sorted(tickers) == sorted(books) == sorted(symbols)
        for symbol in symbols:
            assert without_receive_time(tickers[symbol]) == delivered_tickers(fx, symbol), symbol
            assert without_receive_time(books[symbol]) == delivered_books(fx, symbol), symbol
            assert len(tickers[symbol]) > 10 and len(books[symbol]) > 10
