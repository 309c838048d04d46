"""The package's public surface: one sorted ``__all__`` whose names all exist."""

from __future__ import annotations

import ops.fake_exchange as package


def test_exported_members_are_sorted_and_importable() -> None:
    assert package.__all__ == sorted(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)
