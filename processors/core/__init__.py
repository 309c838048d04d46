"""Pure computation core of the processors: records in, derived records out, state as plain data.

No Kafka, Faust, clock or I/O here: the same objects run inside Faust agents, in replay/verify and in golden
tests. Each processor has one entry point with ``process(record) -> list[output]``, ``flush()`` for the end
of a finite input, and ``state`` / ``snapshot_symbol`` / ``restore_symbol`` for changelogged tables.
"""

from processors.core.imbalance import DEFAULT_DEPTHS, DEFAULT_IMBALANCE_WINDOWS, ImbalanceProcessor
from processors.core.kline_rollup import DEFAULT_GRANULARITIES_MIN, KlineRollupProcessor, kline_windows
from processors.core.ticker_bars import DEFAULT_TICKER_WINDOWS, TickerBarProcessor
from processors.core.windowing import SymbolState, WindowSpec, WindowState, default_grace_ms

__all__ = [
    "DEFAULT_DEPTHS",
    "DEFAULT_GRANULARITIES_MIN",
    "DEFAULT_IMBALANCE_WINDOWS",
    "DEFAULT_TICKER_WINDOWS",
    "ImbalanceProcessor",
    "KlineRollupProcessor",
    "SymbolState",
    "TickerBarProcessor",
    "WindowSpec",
    "WindowState",
    "default_grace_ms",
    "kline_windows",
]
