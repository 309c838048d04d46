"""Pure parts of the REST client: response envelopes, typed errors, the bullet token, rate-limit headers.

The HTTP adapter hands in status, headers and body bytes and gets back data or a typed exception; which errors
are retried is the ``retriable`` flag of :class:`~.exceptions.ApiError`, decided here in one lookup.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .exceptions import ApiError, RateLimitedError, ResponseFormatError, ServerError
from .lossless import loads

__all__ = [
    "DEFAULT_OVERLOAD_WAIT_S",
    "SUCCESS_CODE",
    "Bullet",
    "InstanceServer",
    "RateLimit",
    "api_error",
    "parse_bullet",
    "parse_rate_limit",
    "unwrap",
    "wait_before_next_call",
]

SUCCESS_CODE = "200000"
DEFAULT_OVERLOAD_WAIT_S = 1.0
_RETRIABLE_CODES: dict[str, type[ApiError]] = {
    "429000": RateLimitedError,
    "500000": ServerError,
    "503000": ServerError,
}


def api_error(code: str, message: str, http_status: int) -> ApiError:
    """The typed error for a code and HTTP status; unknown codes are not retriable."""
    cls = _RETRIABLE_CODES.get(code)
    if cls is None and http_status == 429:
        cls = RateLimitedError
    if cls is None and http_status >= 500:
        cls = ServerError
    return (cls or ApiError)(code, message, http_status)


def unwrap(body: bytes | str, http_status: int) -> Any:
    """Return ``data`` of a success envelope, else raise: KuCoin reports many errors with HTTP 200."""
    try:
        envelope = loads(body)
    except ValueError as exc:
        if http_status == 429 or http_status >= 500:
            raise api_error("", f"non-JSON body: {exc}", http_status) from exc
        raise ResponseFormatError(f"HTTP {http_status} body is not JSON: {exc}") from exc
    if type(envelope) is not dict or "code" not in envelope:
        raise ResponseFormatError(f"HTTP {http_status} body is not a KuCoin envelope")
    code = str(envelope["code"])
    if code == SUCCESS_CODE and http_status == 200:
        if "data" not in envelope:
            raise ResponseFormatError("success envelope without data")
        return envelope["data"]
    raise api_error(code, str(envelope.get("msg", "")), http_status)


@dataclass(frozen=True, slots=True)
class InstanceServer:
    """One WebSocket server offered by bullet-public, with the keepalive timing it expects."""

    endpoint: str
    ping_interval_ms: int
    ping_timeout_ms: int

    def connect_url(self, token: str, connect_id: str) -> str:
        """``{endpoint}?token=...&connectId=...`` with the token URL-encoded."""
        separator = "&" if "?" in self.endpoint else "?"
        return f"{self.endpoint}{separator}{urlencode({'token': token, 'connectId': connect_id})}"


@dataclass(frozen=True, slots=True)
class Bullet:
    """A bullet-public reply: a 24 h token (one per connection attempt) and the servers to pick from."""

    token: str
    servers: tuple[InstanceServer, ...]

    def pick(self, rng: random.Random) -> InstanceServer:
        """A server at random, as KuCoin asks, to spread connections."""
        return rng.choice(self.servers)


def parse_bullet(body: bytes | str, http_status: int = 200) -> Bullet:
    """Parse ``POST /api/v1/bullet-public``; intervals are never hard-coded (old servers: 50000 ms)."""
    data = unwrap(body, http_status)
    try:
        token = data["token"]
        servers = tuple(
            InstanceServer(
                endpoint=server["endpoint"],
                ping_interval_ms=_positive_int(server["pingInterval"]),
                ping_timeout_ms=_positive_int(server["pingTimeout"]),
            )
            for server in data["instanceServers"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseFormatError(f"bullet reply lacks {exc}") from exc
    if type(token) is not str or not token or not servers:
        raise ResponseFormatError("bullet reply without token or instance servers")
    if any(type(server.endpoint) is not str for server in servers):
        raise ResponseFormatError("bullet endpoint is not text")
    return Bullet(token, servers)


def _positive_int(value: Any) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"not a positive integer: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The ``gw-ratelimit-*`` headers: request weight left in the pool and ms until it refills."""

    limit: int
    remaining: int
    reset_ms: int


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """The rate-limit headers, or ``None`` when absent (an overload 429 comes without them)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        return RateLimit(
            int(lowered["gw-ratelimit-limit"]),
            int(lowered["gw-ratelimit-remaining"]),
            int(lowered["gw-ratelimit-reset"]),
        )
    except (KeyError, ValueError):
        return None


def wait_before_next_call(
    http_status: int,
    headers: Mapping[str, str],
    *,
    next_weight: int = 3,
    overload_wait_s: float = DEFAULT_OVERLOAD_WAIT_S,
) -> float:
    """Seconds to wait before the next public call, from the last reply (KuCoin sends no Retry-After).

    Waits for the pool reset when the last call was refused or the remaining weight cannot pay
    ``next_weight``; a 429 without headers is a gateway overload, answered with ``overload_wait_s`` (grow it
    with backoff).
    """
    limit = parse_rate_limit(headers)
    if limit is None:
        return overload_wait_s if http_status == 429 else 0.0
    if http_status == 429 or limit.remaining < next_weight:
        return max(limit.reset_ms, 0) / 1000
    return 0.0
