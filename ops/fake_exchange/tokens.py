"""Bullet tokens: issued by ``POST /api/v1/bullet-public``, checked when a WebSocket connects. Pure.

A token works for ``lifetime_ms`` of fake time after it was issued (24 h on the real exchange); connections
opened with it are closed when it expires. Unknown tokens are ``invalid``; old ones are ``expired``.
"""

from __future__ import annotations

import random
import string
from typing import Literal

__all__ = ["TokenRegistry", "TokenStatus"]

TokenStatus = Literal["ok", "invalid", "expired"]
_ALPHABET = string.ascii_letters + string.digits + "-_"


class TokenRegistry:
    """Issued tokens and their expiry instants (fake ms)."""

    def __init__(self, lifetime_ms: int, rng: random.Random) -> None:
        self.lifetime_ms = lifetime_ms
        self._rng = rng
        self._expiry: dict[str, int] = {}

    def issue(self, now_ms: int) -> str:
        """A new token valid for ``lifetime_ms`` from ``now_ms`` (shaped like the real ones)."""
        body = "".join(self._rng.choices(_ALPHABET, k=160))
        tail = "".join(self._rng.choices(_ALPHABET, k=22))
        token = f"{body}=.{tail}=="
        self._expiry[token] = now_ms + self.lifetime_ms
        return token

    def check(self, token: str, now_ms: int) -> TokenStatus:
        """Whether ``token`` may open a connection at ``now_ms``."""
        expiry = self._expiry.get(token)
        if expiry is None:
            return "invalid"
        return "ok" if now_ms < expiry else "expired"

    def expiry_ms(self, token: str) -> int:
        """When ``token`` stops working (fake ms)."""
        return self._expiry[token]

    def expire_all(self, now_ms: int) -> None:
        """Make every issued token expired as of ``now_ms``."""
        for token, expiry in self._expiry.items():
            self._expiry[token] = min(expiry, now_ms)
