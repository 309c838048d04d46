"""Per-symbol sequence rules: which market-data frames to publish and which to drop.

KuCoin sequences never decrease but are not contiguous, so gaps cannot be seen, only regressions. One
:class:`Sequencer` per stream is shared by every connection carrying that stream, which also removes the
overlap while two connections deliver the same symbols during a reconnect or token-rotation handover.
"""

from __future__ import annotations

from enum import StrEnum

from schemas.records import Depth50, TickerV2

from .topics import Stream

__all__ = ["PUBLISHED", "Outcome", "Sequencer"]


class Outcome(StrEnum):
    """What the sequence rules decided for one frame."""

    ACCEPTED = "accepted"
    """First frame of the symbol or a higher sequence: publish."""
    REPEAT_KEPT = "repeat_kept"
    """Book resent unchanged (same sequence, newer timestamp), published because repeats are kept."""
    REPEAT_SUPPRESSED = "repeat_suppressed"
    """Book resent unchanged, dropped (the default: about 9 of 10 frames on a quiet contract)."""
    DUPLICATE = "duplicate"
    """The same frame again (same sequence, and for books no newer timestamp), e.g. from a second connection.
    """
    REGRESSION = "regression"
    """A lower sequence than already published: out of order or stale, dropped."""

    @property
    def publish(self) -> bool:
        """Whether the frame goes to Kafka."""
        return self in PUBLISHED


# Per frame, so the members are read once: on Python 3.11 every ``Outcome.X`` goes through EnumType.__getattr__.
_ACCEPTED, _DUPLICATE, _REGRESSION = Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REGRESSION
PUBLISHED = frozenset({_ACCEPTED, Outcome.REPEAT_KEPT})
"""The outcomes that go to Kafka (``outcome in PUBLISHED`` is :attr:`Outcome.publish` without the call)."""


class Sequencer:
    """The sequence rules of one stream, with a counter per outcome for metrics.

    Books resend the same sequence every 100 ms; tickerV2 sequences change with every push, so an equal ticker
    sequence is always a duplicate.
    """

    def __init__(self, stream: Stream, *, keep_repeats: bool = False) -> None:
        self.stream = stream
        self._books = stream is not Stream.TICKER_V2
        self._repeat = Outcome.REPEAT_KEPT if keep_repeats else Outcome.REPEAT_SUPPRESSED
        self._last: dict[str, tuple[int, int]] = {}
        self.counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)

    def observe(self, symbol: str, sequence: int, exchange_ts: int) -> Outcome:
        """Classify one frame and remember it when it moves the symbol forward."""
        last = self._last.get(symbol)
        if last is None or sequence > last[0]:
            outcome = _ACCEPTED
            self._last[symbol] = (sequence, exchange_ts)
        elif sequence < last[0]:
            outcome = _REGRESSION
        elif self._books and exchange_ts > last[1]:
            outcome = self._repeat
            self._last[symbol] = (sequence, exchange_ts)
        else:
            outcome = _DUPLICATE
        self.counts[outcome] += 1
        return outcome

    def admit(self, record: TickerV2 | Depth50) -> bool:
        """Observe a record and say whether to publish it."""
        if isinstance(record, TickerV2):
            return self.observe(record.symbol, record.sequence, record.exchange_ts_ns).publish
        return self.observe(record.symbol, record.sequence, record.exchange_ts_ms).publish

    def forget(self, symbol: str) -> None:
        """Drop a delisted symbol's state; a relisting starts fresh."""
        self._last.pop(symbol, None)
