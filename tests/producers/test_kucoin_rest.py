"""REST envelopes, typed errors, bullet, rate-limit headers, contracts, backoff and the client limiter."""

from __future__ import annotations

import itertools
import random

import pytest

from producers.kucoin.backoff import backoff
from producers.kucoin.contracts import Contract, parse_contracts, select_symbols
from producers.kucoin.exceptions import (
    ApiError,
    KucoinError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    UnknownSymbolError,
)
from producers.kucoin.ratelimit import MessageRateLimiter
from producers.kucoin.rest import InstanceServer, parse_bullet, parse_rate_limit, unwrap, wait_before_next_call


def test_unwrap_success_keeps_exact_decimals() -> None:
    assert unwrap(b'{"code":"200000","data":[[1,2.50,1.36374895253E7]]}', 200) == [[1, "2.50", "1.36374895253E7"]]


@pytest.mark.parametrize(
    ("body", "status", "cls", "code", "retriable"),
    [
        (b'{"msg":"Invalid symbol.","code":"200003"}', 200, ApiError, "200003", False),
        (b'{"code":"404","msg":"Not Found","retry":false,"success":false}', 404, ApiError, "404", False),
        (b'{"code":"429000","msg":"Too Many Requests"}', 429, RateLimitedError, "429000", True),
        (b'{"code":"429000","msg":"Too Many Requests"}', 200, RateLimitedError, "429000", True),
        (b'{"code":"400001","msg":"x"}', 429, RateLimitedError, "400001", True),
        (b'{"code":"500000","msg":"Internal"}', 200, ServerError, "500000", True),
        (b'{"code":"123","msg":"x"}', 503, ServerError, "123", True),
        (b"<html>bad gateway</html>", 502, ServerError, "", True),
        (b'{"code":"200000","data":1}', 500, ServerError, "200000", True),
        (b'{"code":200000,"msg":"numeric code"}', 201, ApiError, "200000", False),
    ],
)
def test_error_envelopes(body: bytes, status: int, cls: type[ApiError], code: str, retriable: bool) -> None:
    with pytest.raises(cls) as caught:
        unwrap(body, status)
    assert type(caught.value) is cls
    assert (caught.value.code, caught.value.retriable, caught.value.http_status) == (code, retriable, status)
    assert isinstance(caught.value, KucoinError)


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"data":1}', b'{"code":"200000"}'])
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ResponseFormatError):
        unwrap(body, 200)


BULLET = (
    b'{"code":"200000","data":{"token":"tok+/=","instanceServers":['
    b'{"endpoint":"wss://a/","encrypt":true,"protocol":"websocket","pingInterval":18000,"pingTimeout":10000},'
    b'{"endpoint":"wss://b/","encrypt":true,"protocol":"websocket","pingInterval":50000,"pingTimeout":9000}]}}'
)


def test_bullet_and_random_server_choice() -> None:
    bullet = parse_bullet(BULLET)
    assert bullet.token == "tok+/="
    picks = {bullet.pick(random.Random(seed)).endpoint for seed in range(20)}
    assert picks == {"wss://a/", "wss://b/"}
    assert bullet.pick(random.Random(3)) == bullet.pick(random.Random(3))
    server = InstanceServer("wss://a/", 18000, 10000)
    assert server.connect_url("tok+/=", "c 1") == "wss://a/?token=tok%2B%2F%3D&connectId=c+1"
    assert InstanceServer("wss://a/x?v=1", 1, 1).connect_url("t", "c") == "wss://a/x?v=1&token=t&connectId=c"


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":"200000","data":{"instanceServers":[]}}',
        b'{"code":"200000","data":{"token":"t","instanceServers":[]}}',
        b'{"code":"200000","data":{"token":"t","instanceServers":[{"endpoint":"wss://a/","pingInterval":0,'
        b'"pingTimeout":1}]}}',
        b'{"code":"200000","data":{"token":"t","instanceServers":[{"endpoint":"wss://a/","pingTimeout":1}]}}',
        b'{"code":"200000","data":{"token":"t","instanceServers":[{"endpoint":5,"pingInterval":1,"pingTimeout":1}]}}',
    ],
)
def test_bad_bullets(body: bytes) -> None:
    with pytest.raises(ResponseFormatError):
        parse_bullet(body)


HEADERS = {"gw-ratelimit-limit": "2000", "gw-ratelimit-remaining": "1997", "gw-ratelimit-reset": "29872"}


@pytest.mark.parametrize(
    ("status", "headers", "weight", "wait"),
    [
        (200, HEADERS, 3, 0.0),
        (200, {**HEADERS, "gw-ratelimit-remaining": "3"}, 3, 0.0),
        (200, {**HEADERS, "gw-ratelimit-remaining": "2"}, 3, 29.872),
        (200, {**HEADERS, "gw-ratelimit-remaining": "9"}, 10, 29.872),
        (429, HEADERS, 3, 29.872),
        (429, {}, 3, 1.0),
        (200, {}, 3, 0.0),
        (200, {"GW-RateLimit-Limit": "2000", "Gw-Ratelimit-Remaining": "0", "gw-ratelimit-reset": "500"}, 3, 0.5),
        (200, {**HEADERS, "gw-ratelimit-remaining": "x"}, 3, 0.0),
    ],
)
def test_wait_before_next_call(status: int, headers: dict[str, str], weight: int, wait: float) -> None:
    assert wait_before_next_call(status, headers, next_weight=weight) == pytest.approx(wait)


def test_parse_rate_limit() -> None:
    limit = parse_rate_limit(HEADERS)
    assert limit is not None
    assert (limit.limit, limit.remaining, limit.reset_ms) == (2000, 1997, 29872)


def contract(symbol: str, status: str = "Open") -> Contract:
    return Contract(symbol, status, "0.1", "1", "0.001", False, "FFWCSX")


CONTRACTS = [
    contract("XBTUSDTM"),
    contract("ETHUSDTM"),
    contract("XBTUSDM"),
    contract("XBTMM21", "Settled"),
    contract("NEWUSDTM", "Init"),
]


@pytest.mark.parametrize(
    ("selection", "symbols"),
    [
        (["all"], ("ETHUSDTM", "XBTUSDM", "XBTUSDTM")),
        (["XBTUSDTM"], ("XBTUSDTM",)),
        (["*USDTM"], ("ETHUSDTM", "XBTUSDTM")),
        (["XBT*", "ETHUSDTM", "XBTUSDTM"], ("ETHUSDTM", "XBTUSDM", "XBTUSDTM")),
        (["XBTUSD?M"], ("XBTUSDTM",)),
        ([], ()),
    ],
)
def test_select_symbols(selection: list[str], symbols: tuple[str, ...]) -> None:
    assert select_symbols(CONTRACTS, selection) == symbols


def test_unknown_and_closed_symbols_are_one_clear_error() -> None:
    with pytest.raises(UnknownSymbolError) as caught:
        select_symbols(CONTRACTS, ["XBTUSDTM", "NOPEUSDTM", "XBTMM21", "*USDC", "xbtusdtm"])
    assert caught.value.unknown == ["NOPEUSDTM", "XBTMM21", "*USDC", "xbtusdtm"]
    assert "XBTMM21 is Settled" in str(caught.value)


def test_parse_contracts_shapes() -> None:
    item = {"symbol": "A", "status": "Open", "tickSize": "0.10", "lotSize": 1, "multiplier": "-1.0", "isInverse": True}
    assert parse_contracts(item) == parse_contracts([item]) == (Contract("A", "Open", "0.10", "1", "-1.0", True, None),)
    for bad in ("x", [{"symbol": "A"}], [{**item, "isInverse": "yes"}], [{**item, "tickSize": "-1"}]):
        with pytest.raises(ResponseFormatError):
            parse_contracts(bad)


@pytest.mark.parametrize("seed", range(5))
def test_backoff_full_jitter_within_capped_bounds(seed: int) -> None:
    delays = list(itertools.islice(backoff(random.Random(seed), initial_s=1.0, factor=2.0, cap_s=10.0), 50))
    ceilings = [min(10.0, 2.0**n) for n in range(50)]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays[10:]) > 5.0  # reaches up towards the cap
    assert delays == list(itertools.islice(backoff(random.Random(seed), cap_s=10.0), 50))


@pytest.mark.parametrize(("initial", "factor", "cap"), [(0.0, 2.0, 1.0), (1.0, 0.5, 2.0), (2.0, 2.0, 1.0)])
def test_backoff_rejects_bad_parameters(initial: float, factor: float, cap: float) -> None:
    with pytest.raises(ValueError):
        next(backoff(random.Random(0), initial_s=initial, factor=factor, cap_s=cap))


def test_message_rate_limiter_sliding_window() -> None:
    limiter = MessageRateLimiter(3, 10.0)
    assert [limiter.try_acquire(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert limiter.next_allowed(3.0) == 10.0
    assert limiter.try_acquire(10.0)
    assert limiter.next_allowed(10.0) == 11.0
    assert limiter.next_allowed(30.0) == 30.0
    with pytest.raises(ValueError):
        MessageRateLimiter(0, 10.0)


def test_default_limiter_stays_below_100_per_10_s() -> None:
    limiter = MessageRateLimiter()
    sent = [t / 100 for t in range(0, 3000) if limiter.try_acquire(t / 100)]
    assert all(sum(1 for s in sent if start <= s < start + 10.0) < 100 for start in sent)
