"""The REST API over HTTP, driven by a plain httpx client."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal
from typing import Any

import httpx

from ops.fake_exchange import FakeExchange
from ops.fake_exchange.model import MINUTE_MS
from tests.fake_exchange.helpers import START_MS, running


async def get(fx: FakeExchange, path: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=fx.rest_url) as http:
        return await http.get(path, params=params)


def exact(reply: httpx.Response) -> Any:
    """The body with numbers kept as exact decimals."""
    return json.loads(reply.text, parse_float=Decimal)


async def test_bullet_public_points_at_the_fakes_own_websocket() -> None:
    async with running() as fx, httpx.AsyncClient(base_url=fx.rest_url) as http:
        reply = await http.post("/api/v1/bullet-public")
    body = reply.json()
    assert body["code"] == "200000" and list(body["data"]) == ["token", "instanceServers"]
    assert body["data"]["instanceServers"] == [
        {"endpoint": fx.ws_url, "encrypt": False, "protocol": "websocket", "pingInterval": 18000, "pingTimeout": 10000}
    ]
    assert len(body["data"]["token"]) > 100


async def test_contracts_active_lists_every_contract_with_real_field_types() -> None:
    async with running(symbols=20) as fx:
        reply = await get(fx, "/api/v1/contracts/active")
    data = exact(reply)["data"]
    assert len(data) == 20
    xbt = next(c for c in data if c["symbol"] == "XBTUSDTM")
    assert (xbt["tickSize"], xbt["multiplier"], xbt["lotSize"], xbt["isInverse"]) == (
        Decimal("0.1"),
        Decimal("0.001"),
        1,
        False,
    )
    inverse = next(c for c in data if c["symbol"] == "XBTUSDM")
    assert inverse["multiplier"] == Decimal("-1.0") and inverse["isInverse"] is True
    assert '"multiplier":-1.0' in reply.text
    assert {c["status"] for c in data} == {"Open"} and {c["type"] for c in data} == {"FFWCSX"}


async def test_kline_query_rows_are_numbers_in_rest_column_order() -> None:
    async with running() as fx:
        reply = await get(fx, "/api/v1/kline/query", symbol="XBTUSDTM", granularity=1)
        model = fx.market.model.symbol("XBTUSDTM")
    rows = exact(reply)["data"]
    assert len(rows) == 500
    expected = model.klines(1, None, None, START_MS, 500)
    for row, agg in zip(rows, expected, strict=True):
        time_ms, open_, high, low, close, volume, turnover = row
        assert time_ms == agg.start_ms and volume == agg.volume
        assert high >= max(open_, close) and low <= min(open_, close)
        assert open_ == Decimal(agg.open).scaleb(-1) and close == Decimal(agg.close).scaleb(-1)
        assert turnover == agg.turnover


async def test_kline_query_paging_from_to_both_and_neither() -> None:
    async with running() as fx:
        neither = exact(await get(fx, "/api/v1/kline/query", symbol="ETHUSDTM", granularity=5))["data"]
        to_ms = START_MS - 6 * 3_600_000
        to_only = exact(await get(fx, "/api/v1/kline/query", symbol="ETHUSDTM", granularity=1, to=to_ms))["data"]
        from_ms = START_MS - 12 * 3_600_000
        from_only = exact(await get(fx, "/api/v1/kline/query", symbol="ETHUSDTM", granularity=1, **{"from": from_ms}))[
            "data"
        ]
        both = exact(
            await get(
                fx,
                "/api/v1/kline/query",
                symbol="ETHUSDTM",
                granularity=1,
                to=from_ms + 10 * MINUTE_MS,
                **{"from": from_ms},
            )
        )["data"]
    assert 0 < len(neither) <= 289 and neither[-1][0] <= START_MS  # one day of history, empty intervals missing
    assert len(to_only) == 500 and to_only[-1][0] <= to_ms and to_only[0][0] < to_ms - 499 * MINUTE_MS + 1
    assert len(from_only) == 500 and from_only[0][0] >= from_ms
    assert 0 < len(both) <= 10 and both == from_only[: len(both)]
    assert all(a[0] < b[0] for a, b in itertools.pairwise(from_only))


async def test_kline_query_rejects_bad_symbol_and_granularity_with_http_200() -> None:
    async with running() as fx:
        bad_symbol = await get(fx, "/api/v1/kline/query", symbol="NOPEUSDTM", granularity=1)
        bad_granularity = await get(fx, "/api/v1/kline/query", symbol="XBTUSDTM", granularity=2)
        bad_number = await get(fx, "/api/v1/kline/query", symbol="XBTUSDTM", granularity=1, to="soon")
    assert bad_symbol.status_code == 200 and bad_symbol.text == '{"msg":"Invalid symbol.","code":"200003"}'
    assert bad_granularity.status_code == 200 and bad_granularity.json()["code"] == "400100"
    assert bad_number.status_code == 200 and bad_number.json()["code"] == "400100"


async def test_snapshot_is_the_models_book_now_with_ns_timestamp() -> None:
    async with running() as fx:
        reply = await get(fx, "/api/v1/level2/snapshot", symbol="ETHUSDTM")
        depth20 = exact(await get(fx, "/api/v1/level2/depth20", symbol="ETHUSDTM"))["data"]
        model = fx.market.model.symbol("ETHUSDTM")
    data = exact(reply)["data"]
    assert list(data) == ["sequence", "symbol", "bids", "asks", "ts"]
    assert data["ts"] == START_MS * 1_000_000
    book = model.book(model.version_at(START_MS * 1_000_000), 100)
    assert data["sequence"] == book.sequence
    assert data["bids"] == [[Decimal(p).scaleb(-2), s] for p, s in book.bids]
    assert data["asks"] == [[Decimal(p).scaleb(-2), s] for p, s in book.asks]
    assert depth20["bids"] == data["bids"][:20] and depth20["asks"] == data["asks"][:20]


async def test_snapshot_of_unknown_symbol_is_code_200003_with_http_200() -> None:
    async with running() as fx:
        reply = await get(fx, "/api/v1/level2/snapshot", symbol="NOPEUSDTM")
    assert reply.status_code == 200 and reply.text == '{"msg":"Invalid symbol.","code":"200003"}'


async def test_timestamp_is_fake_time_in_ms() -> None:
    async with running() as fx:
        fx.clock.advance(1234)
        reply = await get(fx, "/api/v1/timestamp")
    assert reply.text == f'{{"code":"200000","data":{START_MS + 1234}}}'


async def test_unknown_path_is_http_404() -> None:
    async with running() as fx:
        reply = await get(fx, "/api/v1/nope")
    assert reply.status_code == 404 and reply.json() == {
        "code": "404",
        "msg": "Not Found",
        "retry": False,
        "success": False,
    }


async def test_rate_limit_headers_count_down_by_route_weight() -> None:
    async with running() as fx:
        first = await get(fx, "/api/v1/kline/query", symbol="XBTUSDTM", granularity=60)
        second = await get(fx, "/api/v1/contracts/active")
    assert first.headers["gw-ratelimit-limit"] == "2000"
    assert first.headers["gw-ratelimit-remaining"] == "1997"
    assert second.headers["gw-ratelimit-remaining"] == "1994"
    assert 0 < int(second.headers["gw-ratelimit-reset"]) <= 30_000


async def test_over_budget_is_http_429_without_retry_after() -> None:
    async with running(rest_limit=10) as fx:
        statuses = [(await get(fx, "/api/v1/level2/snapshot", symbol="XBTUSDTM")).status_code for _ in range(3)]
        refused = await get(fx, "/api/v1/level2/snapshot", symbol="XBTUSDTM")
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429 and refused.text == '{"code":"429000","msg":"Too Many Requests"}'
    assert refused.headers["gw-ratelimit-remaining"] == "1" and "Retry-After" not in refused.headers


async def test_budget_refills_after_the_window() -> None:
    # A window long enough that three requests fit in it on a loaded machine.
    async with running(rest_limit=2, rest_window_s=2.0) as fx:
        statuses = [(await get(fx, "/api/v1/timestamp")).status_code for _ in range(3)]
        await asyncio.sleep(2.05)
        assert (await get(fx, "/api/v1/timestamp")).status_code == 200
    assert statuses == [200, 200, 429]
