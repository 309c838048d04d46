"""Throughput of the processor cores on synthetic streams: ``python -m tests.processors.bench``.

A measurement to report, not a test: there are no timing assertions anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from processors.core import ImbalanceProcessor, KlineRollupProcessor, TickerBarProcessor
from tests.processors.streams import depth_stream, kline_stream, ticker_stream


def _rate(make: Callable[[], Any], records: Sequence[Any]) -> float:
    best = 0.0
    for _ in range(3):
        processor = make()
        process = processor.process
        start = time.perf_counter()
        for record in records:
            process(record)
        processor.flush()
        best = max(best, len(records) / (time.perf_counter() - start))
    return best


def main() -> None:
    symbols = tuple(f"S{i:03d}USDTM" for i in range(50))
    # 50 symbols. Busy: tickerV2 ~20 updates/s per symbol, Depth50 every 100 ms per symbol, 1 in 10,000 events
    # late or after a gap. Sparse: an update per symbol every ~7 s with 2% gaps and 2% late, so almost every
    # event opens and closes bars. Depth50: all new books (busy contracts) or 90% resends (quiet, typical).
    calm = 0.0001
    cases: list[tuple[str, Callable[[], Any], Sequence[Any]]] = [
        ("ticker bars, busy", TickerBarProcessor, ticker_stream(1, 200_000, symbols, 2, calm)),
        ("ticker bars, sparse", TickerBarProcessor, ticker_stream(1, 50_000, symbols)),
        ("imbalance, new books", ImbalanceProcessor, depth_stream(1, 20_000, symbols, 50, 0.0, 4, calm)),
        ("imbalance, 90% resends", ImbalanceProcessor, depth_stream(1, 50_000, symbols, 50, 0.9, 4, calm)),
        ("imbalance, sparse", ImbalanceProcessor, depth_stream(1, 20_000, symbols)),
        ("kline roll-up (6 granularities)", KlineRollupProcessor, kline_stream(1, 2_000, symbols)),
    ]
    for name, make, records in cases:
        print(f"{name:32s} {_rate(make, records):>10,.0f} events/s")


if __name__ == "__main__":
    main()
