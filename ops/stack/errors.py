"""Errors of the local stack, each with a message a user can act on."""

from __future__ import annotations

__all__ = ["StackError"]


class StackError(Exception):
    """The local Kafka + schema registry stack could not be installed, started, checked or stopped."""
