"""Every real payload in the shared captures parses, and every decimal keeps its exact wire text."""

from __future__ import annotations

import random
from typing import Any

import pytest

from producers.kucoin.contracts import parse_contracts
from producers.kucoin.exceptions import ApiError, ResponseFormatError
from producers.kucoin.frames import Ack, Book, Candle, ErrorFrame, Pong, Unknown, Welcome, parse_frame
from producers.kucoin.klines import parse_kline_rows
from producers.kucoin.rest import parse_bullet, unwrap
from schemas.records import TickerV2

from .conftest import MISSING, Capture, load_captures

RX = 1_790_000_000_000_000_000


def by_id(captures: list[Capture]) -> list[Any]:
    return [pytest.param(capture, id=str(capture)) for capture in captures]


def ws(name: str) -> list[Any]:
    try:
        return by_id(load_captures(name))
    except pytest.skip.Exception:
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING))]


def require(capture: Capture | None) -> Capture:
    if capture is None:
        pytest.skip(MISSING)
    return capture


@pytest.mark.parametrize("capture", ws("ws_tickerV2.jsonl"))
def test_ticker_captures(capture: Capture | None) -> None:
    capture = require(capture)
    event = parse_frame(capture.raw.encode(), RX)
    data = capture.payload["data"]
    assert isinstance(event, TickerV2)
    assert event.symbol == data["symbol"] == capture.payload["topic"].split(":")[1]
    assert str(event.sequence) == data["sequence"]
    assert event.best_bid_price == data["bestBidPrice"]
    assert event.best_bid_size == data["bestBidSize"]
    assert event.best_ask_price == data["bestAskPrice"]
    assert event.best_ask_size == data["bestAskSize"]
    assert str(event.exchange_ts_ns) == data["ts"]
    assert event.receive_ts_ns == RX


@pytest.mark.parametrize("capture", ws("ws_depth50.jsonl"))
def test_depth_captures(capture: Capture | None) -> None:
    capture = require(capture)
    event = parse_frame(capture.raw, RX)
    payload = capture.payload
    assert isinstance(event, Book), event
    assert event.depth == (50 if "level2Depth50:" in payload["topic"] else 5)
    assert event.record.symbol == payload["topic"].split(":")[1]
    assert str(event.record.sequence) == payload["data"]["sequence"]
    assert str(event.record.exchange_ts_ms) == payload["data"]["ts"]
    record = event.record
    assert [list(level) for level in zip(record.bid_prices, record.bid_sizes, strict=True)] == payload["data"]["bids"]
    assert [list(level) for level in zip(record.ask_prices, record.ask_sizes, strict=True)] == payload["data"]["asks"]


@pytest.mark.parametrize("capture", ws("ws_candle.jsonl"))
def test_candle_captures(capture: Capture | None) -> None:
    capture = require(capture)
    event = parse_frame(capture.raw, RX)
    payload = capture.payload
    if "limitCandle" not in payload["topic"]:
        assert event == Unknown("message", payload["topic"])
        return
    assert isinstance(event, Candle)
    start, open_, close, high, low, turnover, volume = payload["data"]["candles"]
    kline = event.kline
    assert (kline.open, kline.close, kline.high, kline.low) == (open_, close, high, low)
    assert (kline.volume, kline.turnover) == (volume, turnover)
    assert kline.open_time_ms == int(start) * 1000
    assert str(event.time_ms) == payload["data"]["time"]


def test_limit_candle_volume_matches_the_rest_kline_of_the_same_minute() -> None:
    """The 2026 capture's note: REST said volume 12785 lots, turnover 1080991.7836 for this minute."""
    live = [c for c in load_captures("ws_candle.jsonl") if "1790993280" in c.raw]
    assert len(live) == 1
    event = parse_frame(live[0].raw, RX)
    assert isinstance(event, Candle)
    assert (event.kline.volume, event.kline.turnover) == ("12785", "1080991.7836")


@pytest.mark.parametrize("capture", ws("ws_control.jsonl"))
def test_control_captures(capture: Capture | None) -> None:
    capture = require(capture)
    event = parse_frame(capture.raw, RX)
    payload = capture.payload
    expected = {"welcome": Welcome, "ack": Ack, "pong": Pong, "error": ErrorFrame}[payload["type"]]
    assert isinstance(event, expected)
    if isinstance(event, ErrorFrame):
        assert event.code == int(payload["code"])
        assert event.data == payload["data"]
        assert event.id == payload.get("id")
    elif isinstance(event, Pong):
        assert event.timestamp_us == (int(payload["timestamp"]) if "timestamp" in payload else None)
    else:
        assert isinstance(event, Welcome | Ack)
        assert event.id == payload["id"]


@pytest.mark.parametrize("capture", ws("ws_other.jsonl"))
def test_other_captures_are_ignored_not_malformed(capture: Capture | None) -> None:
    capture = require(capture)
    assert isinstance(parse_frame(capture.raw, RX), Unknown)


@pytest.mark.parametrize("capture", ws("rest_klines.jsonl"))
def test_rest_kline_captures(capture: Capture | None) -> None:
    capture = require(capture)
    klines = parse_kline_rows(unwrap(capture.raw, 200), "XBTUSDTM", 60, RX)
    rows = capture.payload["data"]
    assert len(klines) == len(rows) > 0
    for kline, row in zip(klines, rows, strict=True):
        assert str(kline.open_time_ms) == row[0]
        assert [kline.open, kline.high, kline.low, kline.close, kline.volume] == row[1:6]
        assert kline.turnover == (row[6] if len(row) == 7 else None)


def test_rest_kline_exponent_turnover_is_kept() -> None:
    live = [c for c in load_captures("rest_klines.jsonl") if "1.36374895253E7" in c.raw]
    klines = parse_kline_rows(unwrap(live[0].raw, 200), "XBTUSDTM", 60, RX)
    assert "1.36374895253E7" in {k.turnover for k in klines}
    assert "78712.0" in {k.close for k in klines}


@pytest.mark.parametrize("capture", ws("rest_contracts.jsonl") + ws("rest_contracts_bulk.jsonl"))
def test_contract_captures(capture: Capture | None) -> None:
    capture = require(capture)
    payload = capture.payload
    data = payload["data"] if type(payload) is dict else payload
    contracts = parse_contracts(unwrap(capture.raw, 200) if type(payload) is dict else data)
    items = data if type(data) is list else [data]
    assert len(contracts) == len(items) > 0
    for contract, item in zip(contracts, items, strict=True):
        assert contract.symbol == item["symbol"]
        assert (contract.tick_size, contract.lot_size, contract.multiplier) == (
            item["tickSize"],
            item["lotSize"],
            item["multiplier"],
        )
        assert contract.is_inverse is (item["isInverse"] is True)
        assert contract.is_inverse == contract.multiplier.startswith("-")


@pytest.mark.parametrize("capture", ws("rest_bullet.jsonl"))
def test_bullet_captures(capture: Capture | None) -> None:
    capture = require(capture)
    bullet = parse_bullet(capture.raw)
    server = bullet.pick(random.Random(1))
    expected = capture.payload["data"]["instanceServers"][0]
    assert bullet.token == capture.payload["data"]["token"]
    assert (server.endpoint, str(server.ping_interval_ms), str(server.ping_timeout_ms)) == (
        expected["endpoint"],
        expected["pingInterval"],
        expected["pingTimeout"],
    )


@pytest.mark.parametrize("capture", ws("rest_errors.jsonl"))
def test_error_captures(capture: Capture | None) -> None:
    capture = require(capture)
    status = 404 if capture.payload["code"] == "404" else 200
    with pytest.raises(ApiError) as caught:
        unwrap(capture.raw, status)
    assert caught.value.code == capture.payload["code"]
    assert caught.value.message == capture.payload["msg"]
    assert caught.value.retriable is False


def test_other_rest_captures_are_envelopes() -> None:
    for capture in load_captures("rest_other.jsonl") + load_captures("rest_depth.jsonl"):
        try:
            unwrap(capture.raw, 200)
        except (ApiError, ResponseFormatError) as exc:  # pragma: no cover - shows which capture broke
            pytest.fail(f"{capture}: {exc}")
