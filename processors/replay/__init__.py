"""Replay: any exchange-time range of raw and derived topics, merged deterministically, for backtests and
reprocessing.

In process::

    from processors.replay import Replay, ReplayRequest, TimeRange

    request = ReplayRequest(("kucoin.futures.tickerv2", "kucoin.futures.depth50"),
                            TimeRange.parse("2024-11-15T10:00:00Z", "2024-11-15T10:05:00.500Z"),
                            symbols=("XBTUSDTM",))
    with Replay(request, bootstrap_servers, registry_url) as replay:
        for record in replay:          # Replayed(merge_ts_ms, topic_index, partition, offset, ...)
            backtest.on(record.value)  # TickerV2 | Depth50 | ... in exchange-time order

Order and tie-break: :mod:`processors.replay.merge`. Sinks: :mod:`~processors.replay.files` (JSON Lines,
Parquet), :mod:`~processors.replay.republish` (paced, resumable). Reprocessing check:
:mod:`~processors.replay.verify`. Command line: ``kucoin-kafka replay --help``.
"""

from processors.replay.errors import (
    InvalidRangeError,
    ReplayError,
    RetentionError,
    StateFileError,
    UnknownTopicError,
)
from processors.replay.merge import Batch, Merger, Record, Replayed, Source
from processors.replay.pacing import Pacing
from processors.replay.reader import Replay
from processors.replay.request import DEFAULT_LATENESS_MS, ReplayRequest
from processors.replay.times import TimeRange, format_ms, parse_time
from processors.replay.verify import Difference, VerifyReport, compare, verify

__all__ = [
    "DEFAULT_LATENESS_MS",
    "Batch",
    "Difference",
    "InvalidRangeError",
    "Merger",
    "Pacing",
    "Record",
    "Replay",
    "ReplayError",
    "ReplayRequest",
    "Replayed",
    "RetentionError",
    "Source",
    "StateFileError",
    "TimeRange",
    "UnknownTopicError",
    "VerifyReport",
    "compare",
    "format_ms",
    "parse_time",
    "verify",
]
