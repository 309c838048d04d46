"""Wire encodings of the fake: WebSocket frames and REST bodies as text, with the real key order and spellings.

Frames are built with string templates instead of ``json.dumps`` because the data path must reach tens of
thousands of frames per second, and because exact number spellings matter (nanosecond integers above 2**53,
prices as decimal strings). Key orders follow the 2024-2026 captures in ``shared/kucoin/captures``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from ops.fake_exchange.contracts import Contract
from ops.fake_exchange.model import TOP_LEVELS, Book, KlineAgg, Ticker
from ops.fake_exchange.numbers import java_number, plain_decimal, scaled_decimal, scaled_str

__all__ = [
    "PriceText",
    "Raw",
    "ack_frame",
    "candle_frame",
    "depth_frame",
    "depth_levels",
    "error_frame",
    "kline_row",
    "ping_timeout_frame",
    "pong_frame",
    "render",
    "rest_error",
    "rest_ok",
    "snapshot_data",
    "ticker_frame",
    "welcome_frame",
]

_CACHE_LIMIT = 50_000
_TAIL_CACHE_LIMIT = 8  # consecutive versions mostly share their deep levels: a few entries catch that


class PriceText(dict[int, str]):
    """Cached spellings of one contract: ``price[ticks]`` is the WebSocket price string (``"88987.4"``), and
    :meth:`levels` spells a side of a book. A dict, so that a cached price costs one lookup."""

    __slots__ = ("_decimals", "_tails", "_units")

    def __init__(self, contract: Contract) -> None:
        super().__init__()
        self._units = contract.tick_units
        self._decimals = contract.price_decimals
        self._tails: dict[tuple[tuple[int, int], ...], str] = {}

    def __missing__(self, ticks: int) -> str:
        if len(self) > _CACHE_LIMIT:
            self.clear()
        text = self[ticks] = scaled_str(ticks * self._units, self._decimals)
        return text

    def levels(self, side: list[tuple[int, int]]) -> str:
        """A side of a Depth frame as a JSON array (``[["2749.69",44],...]``). The model redraws only the top
        sizes at each version, so the text of the levels below them is cached: consecutive versions share it."""
        tail = tuple(side[TOP_LEVELS:])
        tail_text = self._tails.get(tail)
        if tail_text is None:
            if len(self._tails) > _TAIL_CACHE_LIMIT:
                self._tails.clear()
            tail_text = self._tails[tail] = "".join([f',["{self[price]}",{size}]' for price, size in tail])
        head = ",".join([f'["{self[price]}",{size}]' for price, size in side[:TOP_LEVELS]])
        return f"[{head}{tail_text}]"


# -- WebSocket -------------------------------------------------------------------------------------------------------


def welcome_frame(connect_id: str) -> str:
    """``{"id":"<connectId>","type":"welcome"}``."""
    return f'{{"id":{json.dumps(connect_id)},"type":"welcome"}}'


def ack_frame(request_id: str) -> str:
    """The subscription ack; the id is always a string."""
    return f'{{"id":{json.dumps(request_id)},"type":"ack"}}'


def pong_frame(request_id: str, timestamp_us: int) -> str:
    """The classic pong, with the server time in microseconds."""
    return f'{{"id":{json.dumps(request_id)},"type":"pong","timestamp":{timestamp_us}}}'


def error_frame(request_id: str, code: int, data: str) -> str:
    """An error frame: numeric code, no topic."""
    return f'{{"id":{json.dumps(request_id)},"type":"error","code":{code},"data":{json.dumps(data)}}}'


def ping_timeout_frame() -> str:
    """The idle error sent before ``1000 Bye``; it has no id."""
    return '{"type":"error","code":400,"data":"ping timeout"}'


def ticker_frame(symbol: str, ticker: Ticker, price: PriceText) -> str:
    """A ``/contractMarket/tickerV2`` push (``sn`` == ``sequence``, ``ts`` in ns)."""
    sequence, bid, bid_size, ask, ask_size, ts_ns = ticker
    seq = str(sequence)
    return (
        f'{{"topic":"/contractMarket/tickerV2:{symbol}","type":"message","subject":"tickerV2","sn":{seq},'
        f'"data":{{"symbol":"{symbol}","sequence":{seq},"bestBidSize":{bid_size},'
        f'"bestBidPrice":"{price[bid]}","bestAskPrice":"{price[ask]}","bestAskSize":{ask_size},"ts":{ts_ns}}}}}'
    )


def depth_levels(book: Book, price: PriceText, levels: int) -> tuple[str, str]:
    """The asks and bids arrays of a Depth frame as JSON text (``[["2749.69",44],...]``)."""
    return price.levels(book.asks[:levels]), price.levels(book.bids[:levels])


def depth_frame(topic: str, sequence: int, ts_ms: int, asks: str, bids: str) -> str:
    """A ``level2Depth50``/``level2Depth5`` push: no symbol in data, ``sn`` == ``timestamp`` == ``ts`` (ms)."""
    return (
        f'{{"topic":"{topic}","type":"message","subject":"level2","sn":{ts_ms},'
        f'"data":{{"sequence":{sequence},"asks":{asks},"bids":{bids},"timestamp":{ts_ms},"ts":{ts_ms}}}}}'
    )


def candle_frame(
    contract: Contract, candle_type: str, agg: KlineAgg, time_ms: int, price: PriceText, *, turnover_first: bool
) -> str:
    """A ``limitCandle`` push: ``[start s, open, close, high, low, volume, turnover]``, all strings.

    ``turnover_first`` swaps the last two columns, as the 2026-10 live capture shows.
    """
    volume = str(agg.volume)
    turnover = plain_decimal(agg.turnover)
    tail = (turnover, volume) if turnover_first else (volume, turnover)
    columns = (str(agg.start_ms // 1000), price[agg.open], price[agg.close], price[agg.high], price[agg.low], *tail)
    candles = ",".join(f'"{c}"' for c in columns)
    symbol = contract.symbol
    return (
        f'{{"topic":"/contractMarket/limitCandle:{symbol}_{candle_type}","type":"message",'
        f'"data":{{"symbol":"{symbol}","candles":[{candles}],"time":{time_ms}}},"subject":"candle.stick"}}'
    )


# -- REST ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """A JSON token written verbatim (a number spelled exactly)."""

    text: str


JsonValue: TypeAlias = "Raw | str | int | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"


def render(value: JsonValue) -> str:
    """Compact JSON text keeping :class:`Raw` tokens and key order."""
    if isinstance(value, Raw):
        return value.text
    if value is None or isinstance(value, (str, bool, int)):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k)}:{render(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(render(v) for v in value) + "]"


def rest_ok(data: JsonValue) -> str:
    """``{"code":"200000","data":...}``."""
    return f'{{"code":"200000","data":{render(data)}}}'


def rest_error(code: str, msg: str, *, msg_first: bool = False) -> str:
    """An error body; bad-symbol replies put ``msg`` before ``code`` as the live API does."""
    if msg_first:
        return f'{{"msg":{json.dumps(msg)},"code":{json.dumps(code)}}}'
    return f'{{"code":{json.dumps(code)},"msg":{json.dumps(msg)}}}'


def _rest_price(contract: Contract, ticks: int) -> Raw:
    return Raw(java_number(scaled_decimal(ticks * contract.tick_units, contract.price_decimals)))


def kline_row(contract: Contract, agg: KlineAgg) -> list[JsonValue]:
    """``[time ms, open, high, low, close, volume lots, turnover]`` as JSON numbers."""
    return [
        agg.start_ms,
        _rest_price(contract, agg.open),
        _rest_price(contract, agg.high),
        _rest_price(contract, agg.low),
        _rest_price(contract, agg.close),
        agg.volume,
        Raw(java_number(agg.turnover)),
    ]


def snapshot_data(contract: Contract, book: Book, ts_ns: int) -> dict[str, JsonValue]:
    """The ``level2/snapshot`` data object: numbers for prices and sizes, ``ts`` in ns."""
    return {
        "sequence": book.sequence,
        "symbol": contract.symbol,
        "bids": [[_rest_price(contract, p), s] for p, s in book.bids],
        "asks": [[_rest_price(contract, p), s] for p, s in book.asks],
        "ts": ts_ns,
    }
