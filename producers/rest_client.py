"""The KuCoin Futures REST calls the producers make, over httpx, within the public rate limit.

Parsing and every decision (errors, how long to wait) live in :mod:`producers.kucoin.rest`; this module only
moves bytes and sleeps. A 429 or an exhausted weight pool waits for the pool to refill, never hammering it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from producers.kucoin.backoff import backoff
from producers.kucoin.contracts import Contract, parse_contracts
from producers.kucoin.exceptions import ApiError, KucoinError, ResponseFormatError
from producers.kucoin.klines import KlineRequest, parse_kline_rows
from producers.kucoin.rest import Bullet, parse_bullet, unwrap, wait_before_next_call
from producers.metrics import ProducerMetrics
from schemas.records import Kline

__all__ = ["KucoinRestClient"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


class KucoinRestClient:
    """Async client for bullet-public, contracts/active, timestamp and kline/query."""

    def __init__(
        self,
        base_url: str,
        metrics: ProducerMetrics,
        rng: Any,
        clock_ns: Callable[[], int],
        timeout_s: float = 10.0,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, headers={"User-Agent": "kucoin-kafka"})
        self._metrics = metrics
        self._rng = rng
        self._clock_ns = clock_ns
        self._not_before = 0.0
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def bullet(self) -> Bullet:
        """A fresh WebSocket token and the servers to connect to."""
        status, body = await self._call("POST", "/api/v1/bullet-public", None, weight=10)
        return parse_bullet(body, status)

    async def contracts(self) -> tuple[Contract, ...]:
        """Every active contract."""
        status, body = await self._call("GET", "/api/v1/contracts/active", None, weight=3)
        return parse_contracts(unwrap(body, status))

    async def server_time_ms(self) -> int:
        """The exchange's clock (ms): what decides which candles are closed, whatever the local clock says."""
        status, body = await self._call("GET", "/api/v1/timestamp", None, weight=1)
        data = unwrap(body, status)
        if type(data) is not int:
            raise ResponseFormatError(f"timestamp data is not an integer: {data!r}")
        return data

    async def klines(self, request: KlineRequest) -> tuple[tuple[Kline, ...], int]:
        """One page of candles and the receive time it was parsed with."""
        status, body = await self._call("GET", "/api/v1/kline/query", request.params(), weight=3)
        receive_ns = self._clock_ns()
        return parse_kline_rows(unwrap(body, status), request.symbol, request.granularity_min, receive_ns), receive_ns

    async def _call(self, method: str, path: str, params: dict[str, Any] | None, weight: int) -> tuple[int, bytes]:
        delays = backoff(self._rng, initial_s=0.5, cap_s=30.0)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with self._lock:  # one caller at a time respects the shared weight pool
                loop = asyncio.get_running_loop()
                if (wait := self._not_before - loop.time()) > 0:
                    await asyncio.sleep(wait)
                try:
                    response = await self._http.request(method, path, params=params)
                except httpx.HTTPError as exc:
                    self._metrics.rest_calls.labels(path, "transport-error").inc()
                    error: KucoinError | httpx.HTTPError = exc
                else:
                    self._metrics.rest_calls.labels(path, str(response.status_code)).inc()
                    pause = wait_before_next_call(
                        response.status_code, response.headers, next_weight=weight, overload_wait_s=next(delays)
                    )
                    self._not_before = loop.time() + pause
                    if response.status_code != 429 and response.status_code < 500:
                        return response.status_code, response.content
                    try:
                        unwrap(response.content, response.status_code)
                        continue
                    except ApiError as api_error:
                        if not api_error.retriable:
                            raise
                        error = api_error
            delay = next(delays)
            log.warning(
                "%s %s failed (attempt %d/%d: %s); retrying in %.1f s",
                method,
                path,
                attempt,
                MAX_ATTEMPTS,
                error,
                delay,
            )
            await asyncio.sleep(delay)
        raise KucoinError(f"{method} {path} failed {MAX_ATTEMPTS} times; last error: {error}")
