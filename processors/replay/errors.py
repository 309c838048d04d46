"""The replay's exception tree: every expected failure is a :class:`ReplayError` with a one-line message.

::

    ValueError
     └── ReplayError            a request replay cannot serve
          ├── InvalidRangeError   empty range, end before start, unparsable time
          ├── UnknownTopicError   a topic the cluster or the schema catalog does not know
          ├── RetentionError      the range starts before the oldest record the broker still keeps
          └── StateFileError      a resume position that belongs to another request

It derives from :class:`ValueError` so that the ``kucoin-kafka`` entry point reports it as a user error (one line,
exit code 2, no traceback).
"""

from __future__ import annotations

__all__ = ["InvalidRangeError", "ReplayError", "RetentionError", "StateFileError", "UnknownTopicError"]


class ReplayError(ValueError):
    """A replay request that cannot be served as asked."""


class InvalidRangeError(ReplayError):
    """The time range is empty, inverted or not a time."""


class UnknownTopicError(ReplayError):
    """A topic that does not exist, or whose records match no schema of the catalog."""


class RetentionError(ReplayError):
    """Part of the range is older than what the broker retains, so the replay would be silently incomplete."""


class StateFileError(ReplayError):
    """A resume position written for a different request, or unreadable."""
