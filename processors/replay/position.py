"""The resumable position of a re-publish: the merge key of the last record known delivered, in a small file.

The merge order is deterministic, so a merge key names a place in the stream: a resumed run replays the same
request and skips every record up to it. The file is replaced atomically and written only after the
producer has flushed, so a crash repeats at most the records sent since the last checkpoint (at-least-once,
never a gap).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.replay.errors import StateFileError

__all__ = ["MergeKey", "PositionFile"]

MergeKey = tuple[int, int, int, int]
"""(merge_ts_ms, topic_index, partition, offset): see :mod:`processors.replay.merge`."""


@dataclass(frozen=True, slots=True)
class PositionFile:
    """A position bound to one request: ``identity`` is compared on load so a file never resumes another job."""

    path: Path
    identity: dict[str, Any]

    def load(self) -> tuple[MergeKey, int] | None:
        """The saved (position, records sent so far), or None when the file does not exist yet."""
        try:
            saved = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateFileError(f"{self.path}: unreadable resume position: {exc}") from None
        if saved.get("request") != self.identity:
            raise StateFileError(
                f"{self.path} holds the position of another replay ({saved.get('request')}); "
                "use another --state file or delete it"
            )
        key = saved["position"]
        return (int(key[0]), int(key[1]), int(key[2]), int(key[3])), int(saved["sent"])

    def save(self, position: MergeKey, sent: int) -> None:
        """Replace the file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"request": self.identity, "position": list(position), "sent": sent}) + "\n")
        temporary.replace(self.path)
