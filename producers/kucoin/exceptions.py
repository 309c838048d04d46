"""Errors of the KuCoin protocol core, all under one root.

::

    KucoinError
    ├── IllegalTransition      a state machine was asked for a move its table forbids (a bug in the caller)
    ├── ResponseFormatError    a REST body does not have the documented shape
    ├── UnknownSymbolError     a configured symbol or pattern matches no open contract
    └── ApiError               a REST error envelope (``code`` != "200000"); carries ``retriable``
        ├── RateLimitedError   429000 or HTTP 429: wait for the window to reset
        └── ServerError        HTTP 5xx or a gateway code: try again later

Frame parsing never raises for bad input: it returns ``frames.Malformed`` instead.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "IllegalTransition",
    "KucoinError",
    "RateLimitedError",
    "ResponseFormatError",
    "ServerError",
    "UnknownSymbolError",
]


class KucoinError(Exception):
    """Root of every error raised by ``producers.kucoin``."""


class IllegalTransition(KucoinError):
    """A state machine move that its transition table does not allow."""


class ResponseFormatError(KucoinError):
    """A REST body that is not JSON or lacks the fields the protocol promises."""


class UnknownSymbolError(KucoinError):
    """Configured symbols or patterns that match no open contract."""

    def __init__(self, unknown: list[str], hint: str = "") -> None:
        self.unknown = unknown
        super().__init__(f"unknown or not open symbols: {', '.join(unknown)}{hint}")


class ApiError(KucoinError):
    """An error envelope from the REST API; ``retriable`` says whether the same call may succeed later."""

    retriable = False

    def __init__(self, code: str, message: str, http_status: int) -> None:
        self.code = code
        self.message = message
        self.http_status = http_status
        super().__init__(f"KuCoin API error {code} (HTTP {http_status}): {message}")


class RateLimitedError(ApiError):
    """Over the request-weight budget (429000): retriable once the window resets."""

    retriable = True


class ServerError(ApiError):
    """A server-side failure (HTTP 5xx): retriable with backoff."""

    retriable = True
