"""Seeded synthetic input streams for the recovery, determinism, Avro and throughput checks.

They are shaped like the exchange's: several symbols interleaved, mostly increasing exchange time with some
reordering (so late events and grace both happen), gaps longer than a bar, repeated Depth50 sequences, and
1-minute klines with missing minutes and the odd duplicate.
"""

from __future__ import annotations

import random

from schemas.records import Depth50, Kline, TickerV2

__all__ = ["depth_stream", "kline_stream", "ticker_stream"]

SYMBOLS = ("XBTUSDTM", "ETHUSDTM", "XBTUSDM")
_T0_MS = 1_731_665_526_461


def _time_step(rng: random.Random, now_ms: int, max_step_ms: int, disorder: float) -> tuple[int, int]:
    """Next (clock, event time): mostly forward by up to ``max_step_ms``; with probability ``disorder`` a gap of
    3 to 90 s, and as often an event reordered up to 12 s into the past."""
    roll = rng.random()
    if roll < disorder:
        now_ms += rng.randint(3_000, 90_000)
    else:
        now_ms += rng.randint(0, max_step_ms)
    event_ms = now_ms - rng.randint(0, 12_000) if roll > 1.0 - disorder else now_ms
    return now_ms, event_ms


def ticker_stream(
    seed: int, count: int, symbols: tuple[str, ...] = SYMBOLS, max_step_ms: int = 300, disorder: float = 0.02
) -> list[TickerV2]:
    """Updates ``max_step_ms / 2`` apart on average (all symbols together), with gaps and reordering."""
    rng = random.Random(seed)
    now = _T0_MS
    mids = dict.fromkeys(symbols, 900_000)  # in tenths
    out = []
    for sequence in range(1, count + 1):
        symbol = rng.choice(symbols)
        mids[symbol] += rng.choice((-2, -1, 0, 0, 1, 2))
        bid = mids[symbol]
        ask = bid + rng.randint(1, 4)
        now, event = _time_step(rng, now, max_step_ms, disorder)
        ns = event * 1_000_000 + rng.randint(0, 999_999)
        out.append(
            TickerV2(
                symbol,
                sequence,
                f"{bid // 10}.{bid % 10}",
                str(rng.randint(1, 2000)),
                f"{ask // 10}.{ask % 10}",
                str(rng.randint(1, 2000)),
                ns,
                ns + 3_000_000,
            )
        )
    return out


def depth_stream(
    seed: int,
    count: int,
    symbols: tuple[str, ...] = SYMBOLS,
    levels: int = 50,
    resend: float = 0.6,
    max_step_ms: int = 300,
    disorder: float = 0.02,
) -> list[Depth50]:
    """Books of ``levels`` per side; a fraction ``resend`` repeats the symbol's previous book and sequence."""
    rng = random.Random(seed)
    now = _T0_MS
    sequence = 0
    last: dict[str, Depth50] = {}
    out = []
    for _ in range(count):
        symbol = rng.choice(symbols)
        now, event = _time_step(rng, now, max_step_ms, disorder)
        previous = last.get(symbol)
        if previous is not None and rng.random() < resend:
            book = Depth50(
                symbol,
                previous.sequence,
                previous.bid_prices,
                previous.bid_sizes,
                previous.ask_prices,
                previous.ask_sizes,
                event,
                event * 1_000_000,
            )
        else:
            sequence += 1
            best = 900_000 + rng.randint(-30, 30)
            depth_bid = rng.randint(0, levels) if rng.random() < 0.05 else levels
            book = Depth50(
                symbol,
                sequence,
                tuple(f"{(best - k) / 10:.1f}" for k in range(depth_bid)),
                tuple(str(rng.randint(1, 3000)) for _ in range(depth_bid)),
                tuple(f"{(best + 1 + k) / 10:.1f}" for k in range(levels)),
                tuple(str(rng.randint(1, 3000)) for _ in range(levels)),
                event,
                event * 1_000_000,
            )
        last[symbol] = book
        out.append(book)
    return out


def kline_stream(seed: int, minutes: int, symbols: tuple[str, ...] = SYMBOLS, missing: float = 0.1) -> list[Kline]:
    """Up to ``minutes`` 1-minute candles per symbol from 23:00 UTC (so day bars cross midnight); a fraction
    ``missing`` of the minutes has no candle, as when nothing traded."""
    rng = random.Random(seed)
    start = 1_731_884_400_000  # 2024-11-17 23:00:00 UTC
    out = []
    for minute in range(minutes):
        for symbol in symbols:
            if rng.random() < missing:
                continue  # no trade in that minute: KuCoin sends no candle
            o, c = rng.randint(9000, 9100), rng.randint(9000, 9100)
            high, low = max(o, c) + rng.randint(0, 5), min(o, c) - rng.randint(0, 5)
            turnover = None if rng.random() < 0.02 else f"{rng.randint(1, 10**9)}.{rng.randint(0, 9999):04d}"
            candle = Kline(
                symbol,
                1,
                start + minute * 60_000,
                f"{o}.5",
                f"{high}.5",
                f"{low}.5",
                f"{c}.5",
                str(rng.randint(0, 5000)),
                turnover,
                0,
            )
            out.append(candle)
            if rng.random() < 0.02:
                out.append(candle)
    return out
