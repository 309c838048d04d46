"""Reconnect and retry delays: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["DEFAULT_CAP_S", "DEFAULT_FACTOR", "DEFAULT_INITIAL_S", "backoff"]

DEFAULT_INITIAL_S = 1.0
DEFAULT_FACTOR = 2.0
DEFAULT_CAP_S = 60.0


def backoff(
    rng: random.Random,
    *,
    initial_s: float = DEFAULT_INITIAL_S,
    factor: float = DEFAULT_FACTOR,
    cap_s: float = DEFAULT_CAP_S,
) -> Iterator[float]:
    """Yield endless delays, each uniform in ``[0, min(cap, initial * factor**n)]``.

    Full jitter spreads the reconnects of many connections dropped at once (a server restart) so they do not
    hit the 30-connections-per-minute limit together; take a fresh generator after a connection succeeds.
    """
    if initial_s <= 0 or factor < 1 or cap_s < initial_s:
        raise ValueError("need initial_s > 0, factor >= 1 and cap_s >= initial_s")
    ceiling = initial_s
    while True:
        yield rng.uniform(0.0, ceiling)
        ceiling = min(cap_s, ceiling * factor)
