"""The kline job's one error type: a failure the user can act on, reported without a traceback."""

from __future__ import annotations

__all__ = ["KlineJobError"]


class KlineJobError(Exception):
    """Bad input (range, topics) or an infrastructure failure (Kafka unreachable, fenced, a failed transaction)."""
