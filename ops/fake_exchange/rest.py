"""The REST endpoints: thin aiohttp handlers over the model, with the public weight pool.

Replies keep the real shapes: ``{"code":"200000","data":...}``; errors as HTTP 200 where the real API does so
(``{"msg":"Invalid symbol.","code":"200003"}``); numbers spelled like Java doubles; ``gw-ratelimit-*`` headers on
every reply, and HTTP 429 ``{"code":"429000","msg":"Too Many Requests"}`` over budget.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ops.fake_exchange.clock import FakeClock
from ops.fake_exchange.config import FakeExchangeConfig
from ops.fake_exchange.contracts import Contract
from ops.fake_exchange.frames import JsonValue, Raw, kline_row, rest_error, rest_ok, snapshot_data
from ops.fake_exchange.model import REST_GRANULARITIES, MarketModel
from ops.fake_exchange.numbers import java_number, scaled_decimal
from ops.fake_exchange.ratelimit import WeightBudget
from ops.fake_exchange.tokens import TokenRegistry

__all__ = ["RestApi"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_JSON = "application/json"


def _json(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type=_JSON)


def _bad_param(msg: str) -> web.Response:
    return _json(rest_error("400100", msg))


def _optional_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    return None if raw in (None, "") else int(raw)


class RestApi:
    """The fake's REST surface; :meth:`routes` lists its aiohttp routes, :meth:`middleware` meters them."""

    def __init__(
        self,
        config: FakeExchangeConfig,
        clock: FakeClock,
        model: MarketModel,
        tokens: TokenRegistry,
        ws_url: Callable[[], str],
    ) -> None:
        self._config = config
        self._clock = clock
        self._model = model
        self._tokens = tokens
        self._ws_url = ws_url
        self._budget = WeightBudget(config.rest_limit, config.rest_window_s)

    def routes(self) -> list[web.RouteDef]:
        """The endpoints served."""
        return [
            web.post("/api/v1/bullet-public", self.bullet_public),
            web.get("/api/v1/contracts/active", self.contracts_active),
            web.get("/api/v1/kline/query", self.kline_query),
            web.get("/api/v1/level2/snapshot", self.snapshot),
            web.get("/api/v1/level2/depth20", self.snapshot),
            web.get("/api/v1/level2/depth100", self.snapshot),
            web.get("/api/v1/timestamp", self.timestamp),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Charge the route's weight to the caller's address; 429 when the window's budget is spent."""
        weight = self._config.rest_weights.get(request.path)
        if weight is None:
            if request.path == "/":
                return await handler(request)
            return _json('{"code":"404","msg":"Not Found","retry":false,"success":false}', status=404)
        quota = self._budget.charge(request.remote or "", weight, time.monotonic())
        if not quota.allowed:
            response: web.StreamResponse = _json(rest_error("429000", "Too Many Requests"), status=429)
        else:
            try:
                response = await handler(request)
            except ValueError:
                response = _bad_param("Parameter error")
        response.headers.update(quota.headers())
        return response

    def _contract(self, request: web.Request) -> Contract | None:
        return self._model.by_symbol.get(request.query.get("symbol", ""))

    async def bullet_public(self, request: web.Request) -> web.Response:
        """A fresh token and this fake's own WebSocket endpoint."""
        token = self._tokens.issue(self._clock.now_ms())
        data: JsonValue = {
            "token": token,
            "instanceServers": [
                {
                    "endpoint": self._ws_url(),
                    "encrypt": False,
                    "protocol": "websocket",
                    "pingInterval": self._config.ping_interval_ms,
                    "pingTimeout": self._config.ping_timeout_ms,
                }
            ],
        }
        return _json(rest_ok(data))

    async def contracts_active(self, request: web.Request) -> web.Response:
        """Every listed contract, in the real field order (a subset of the fields)."""
        now_ns = self._clock.now_ns()
        return _json(rest_ok([self._contract_json(c, now_ns) for c in self._model.contracts]))

    def _contract_json(self, contract: Contract, now_ns: int) -> JsonValue:
        model = self._model.symbol(contract.symbol)
        bid, _ = model.best_ticks(model.version_at(now_ns))
        last = Raw(java_number(scaled_decimal(bid * contract.tick_units, contract.price_decimals)))
        return {
            "symbol": contract.symbol,
            "rootSymbol": contract.settle_currency,
            "type": "FFWCSX",
            "firstOpenDate": 1585555200000,
            "expireDate": None,
            "settleDate": None,
            "baseCurrency": contract.base_currency,
            "quoteCurrency": contract.quote_currency,
            "settleCurrency": contract.settle_currency,
            "maxOrderQty": 1000000,
            "maxPrice": Raw("1000000.0"),
            "lotSize": contract.lot_size,
            "tickSize": Raw(java_number(contract.tick_size)),
            "indexPriceTickSize": Raw(java_number(contract.tick_size)),
            "multiplier": Raw(java_number(contract.multiplier)),
            "isQuanto": False,
            "isInverse": contract.is_inverse,
            "markMethod": "FairPrice",
            "fairMethod": "FundingRate",
            "indexSymbol": f".K{contract.base_currency}{contract.quote_currency}",
            "status": "Open",
            "markPrice": last,
            "indexPrice": last,
            "lastTradePrice": last,
            "maxLeverage": 100 if contract.symbol.startswith("XBT") else 50,
        }

    async def kline_query(self, request: web.Request) -> web.Response:
        """Klines with the real paging rules (see :meth:`SymbolModel.klines`)."""
        contract = self._contract(request)
        if contract is None:
            return _json(rest_error("200003", "Invalid symbol.", msg_first=True))
        granularity = _optional_int(request, "granularity")
        if granularity not in REST_GRANULARITIES:
            return _bad_param("granularity is invalid")
        assert granularity is not None
        model = self._model.symbol(contract.symbol)
        rows = model.klines(
            granularity,
            _optional_int(request, "from"),
            _optional_int(request, "to"),
            self._clock.now_ms(),
            self._config.kline_limit,
        )
        return _json(rest_ok([kline_row(contract, row) for row in rows]))

    async def snapshot(self, request: web.Request) -> web.Response:
        """The book at this instant: full depth for ``snapshot``, 20 or 100 levels for ``depth20|100``."""
        contract = self._contract(request)
        if contract is None:
            return _json(rest_error("200003", "Invalid symbol.", msg_first=True))
        levels = {"depth20": 20, "depth100": 100}.get(request.path.rsplit("/", 1)[1], self._config.snapshot_levels)
        now_ns = self._clock.now_ns()
        model = self._model.symbol(contract.symbol)
        book = model.book(model.version_at(now_ns), levels)
        return _json(rest_ok(snapshot_data(contract, book, now_ns)))

    async def timestamp(self, request: web.Request) -> web.Response:
        """The fake's time in ms."""
        return _json(rest_ok(self._clock.now_ms()))
