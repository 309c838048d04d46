"""An on-disk FIFO of encoded Kafka records, for when the broker is away longer than the memory budget.

While the spill holds anything, every new record goes behind it (never around it), so per-key order is kept.
Entries leave the spill only once Kafka has acknowledged them: the read position is persisted (atomically, by
rename) after each acknowledged batch, so a crash while draining re-sends at most that batch and loses nothing.
A torn last entry from a crash during an append is cut off on open.

Layout: ``<dir>/<index>.seg`` segment files of length-prefixed entries, and ``<dir>/position`` holding
``<segment index> <byte offset>`` of the first entry not yet acknowledged. Records purged from the producer's
queue at shutdown are older than anything already spilled, so :meth:`SpillQueue.prepend` puts them in front.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["SpillQueue", "SpilledRecord"]

_ENTRY = struct.Struct(">HIIq")  # topic length, key length, value length, timestamp ms
SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpilledRecord:
    """One Kafka record as the producer would send it."""

    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int

    def encode(self) -> bytes:
        """The on-disk form of the entry."""
        topic = self.topic.encode()
        return (
            _ENTRY.pack(len(topic), len(self.key), len(self.value), self.timestamp_ms) + topic + self.key + self.value
        )


def _read_entries(segment: BinaryIO, offset: int) -> Iterator[tuple[SpilledRecord, int]]:
    """Entries from ``offset`` with the offset just after each; stops at a torn tail."""
    segment.seek(offset)
    while True:
        header = segment.read(_ENTRY.size)
        if len(header) < _ENTRY.size:
            return
        topic_len, key_len, value_len, timestamp_ms = _ENTRY.unpack(header)
        body = segment.read(topic_len + key_len + value_len)
        if len(body) < topic_len + key_len + value_len:
            return
        offset += _ENTRY.size + len(body)
        yield (
            SpilledRecord(
                body[:topic_len].decode(),
                body[topic_len : topic_len + key_len],
                body[topic_len + key_len :],
                timestamp_ms,
            ),
            offset,
        )


class SpillQueue:
    """A durable FIFO of :class:`SpilledRecord` in a directory."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self._dir = directory
        self._segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._read_segment, self._read_offset = self._load_position()
        self._writer: BinaryIO | None = None
        self.count = 0
        """Entries in the spill (read it, never set it; ``len()`` gives it too, at the cost of a call)."""
        for segment in self._segments():
            self._truncate_torn_tail(segment)
        for _ in self.peek(None):
            self.count += 1
        self._write_index = max([*self._segments(), self._read_segment])

    def __len__(self) -> int:
        return self.count

    @property
    def directory(self) -> Path:
        """Where the spill lives."""
        return self._dir

    def append(self, records: Iterable[SpilledRecord]) -> None:
        """Add records at the back and flush them to the OS (a process crash does not lose them)."""
        writer = self._open_writer()
        for record in records:
            if writer.tell() >= self._segment_bytes:
                writer = self._roll_writer()
            writer.write(record.encode())
            self.count += 1
        writer.flush()

    def prepend(self, records: list[SpilledRecord]) -> None:
        """Put records (older than everything spilled) in front of the read position.

        The read segment is rewritten as those records followed by its unread rest, then swapped in by rename.
        """
        if not records:
            return
        self.close()
        current = self._segment_path(self._read_segment)
        rest = b""
        if current.is_file():
            with current.open("rb") as segment:
                segment.seek(self._read_offset)
                rest = segment.read()
        temporary = self._dir / "prepend.tmp"
        with temporary.open("wb") as out:
            for record in records:
                out.write(record.encode())
            out.write(rest)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(current)
        self.count += len(records)
        self._save_position(self._read_segment, 0)

    def peek(self, limit: int | None) -> Iterator[SpilledRecord]:
        """Up to ``limit`` records from the front, without removing them."""
        if self._writer is not None:
            self._writer.flush()
        taken = 0
        for index in self._segments():
            if index < self._read_segment:
                continue
            with self._segment_path(index).open("rb") as segment:
                start = self._read_offset if index == self._read_segment else 0
                for record, _ in _read_entries(segment, start):
                    if limit is not None and taken >= limit:
                        return
                    taken += 1
                    yield record

    def acknowledge(self, count: int) -> None:
        """Remove ``count`` records from the front (Kafka has them) and persist the new position."""
        if count <= 0:
            return
        if self._writer is not None:
            self._writer.flush()
        remaining = count
        segment_index, offset = self._read_segment, self._read_offset
        for index in self._segments():
            if index < segment_index or remaining == 0:
                continue
            if index > segment_index:
                segment_index, offset = index, 0
            with self._segment_path(index).open("rb") as segment:
                for _, after in _read_entries(segment, offset):
                    offset = after
                    remaining -= 1
                    if remaining == 0:
                        break
        if remaining:
            raise ValueError(f"acknowledged {count} records but the spill held only {count - remaining}")
        self.count -= count
        self._save_position(segment_index, offset)
        for index in self._segments():
            if index < segment_index and index != self._write_index:
                self._segment_path(index).unlink(missing_ok=True)
        if self.count == 0:
            self._reset()

    def close(self) -> None:
        """Flush and close the segment being written."""
        if self._writer is not None:
            self._writer.flush()
            os.fsync(self._writer.fileno())
            self._writer.close()
            self._writer = None

    def _reset(self) -> None:
        """An empty spill: drop every segment, start again at a fresh segment."""
        self.close()
        for index in self._segments():
            self._segment_path(index).unlink(missing_ok=True)
        self._write_index = self._read_segment = max(self._read_segment, self._write_index) + 1
        self._save_position(self._read_segment, 0)

    def _open_writer(self) -> BinaryIO:
        if self._writer is None:
            self._writer = self._segment_path(self._write_index).open("ab")
        return self._writer

    def _roll_writer(self) -> BinaryIO:
        self.close()
        self._write_index += 1
        return self._open_writer()

    def _segments(self) -> list[int]:
        return sorted(int(path.stem) for path in self._dir.glob("*.seg"))

    def _segment_path(self, index: int) -> Path:
        return self._dir / f"{index:+013d}.seg"

    def _load_position(self) -> tuple[int, int]:
        try:
            segment, offset = (self._dir / "position").read_text().split()
            return int(segment), int(offset)
        except (FileNotFoundError, ValueError):
            return 0, 0

    def _save_position(self, segment: int, offset: int) -> None:
        self._read_segment, self._read_offset = segment, offset
        temporary = self._dir / "position.tmp"
        temporary.write_text(f"{segment} {offset}\n")
        temporary.replace(self._dir / "position")

    def _truncate_torn_tail(self, index: int) -> None:
        path = self._segment_path(index)
        end = 0
        with path.open("rb") as segment:
            for _, after in _read_entries(segment, 0):
                end = after
        if end < path.stat().st_size:
            os.truncate(path, end)
