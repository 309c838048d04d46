"""The on-disk spill: FIFO across reopen, acknowledgement, torn tails, prepend for purged records."""

from __future__ import annotations

from pathlib import Path

from producers.publisher.spill import SpilledRecord, SpillQueue


def _records(n: int, start: int = 0) -> list[SpilledRecord]:
    return [SpilledRecord("t", b"XBTUSDTM", f"v{i}".encode(), 1_700_000_000_000 + i) for i in range(start, start + n)]


def _values(queue: SpillQueue) -> list[bytes]:
    return [record.value for record in queue.peek(None)]


def test_records_come_out_in_order_and_survive_a_reopen(tmp_path: Path) -> None:
    queue = SpillQueue(tmp_path, segment_bytes=200)  # small segments: several files
    queue.append(_records(20))
    queue.acknowledge(5)
    queue.close()
    reopened = SpillQueue(tmp_path, segment_bytes=200)
    assert len(reopened) == 15
    assert _values(reopened) == [f"v{i}".encode() for i in range(5, 20)]
    assert list(reopened.peek(2)) == _records(2, start=5)


def test_acknowledging_everything_empties_the_directory_of_segments(tmp_path: Path) -> None:
    queue = SpillQueue(tmp_path, segment_bytes=100)
    queue.append(_records(10))
    queue.acknowledge(10)
    assert len(queue) == 0 and not list(tmp_path.glob("*.seg"))
    queue.append(_records(1, start=10))
    assert _values(SpillQueue(tmp_path)) == [b"v10"]


def test_a_torn_last_entry_is_cut_off_and_earlier_ones_kept(tmp_path: Path) -> None:
    queue = SpillQueue(tmp_path)
    queue.append(_records(3))
    queue.close()
    [segment] = tmp_path.glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:-2])  # a crash in the middle of writing the third entry
    reopened = SpillQueue(tmp_path)
    assert _values(reopened) == [b"v0", b"v1"]
    reopened.append(_records(1, start=3))
    assert _values(SpillQueue(tmp_path)) == [b"v0", b"v1", b"v3"]


def test_prepended_records_come_before_everything_already_spilled(tmp_path: Path) -> None:
    queue = SpillQueue(tmp_path)
    queue.append(_records(3, start=10))
    queue.acknowledge(1)
    queue.prepend(_records(2))
    assert _values(queue) == [b"v0", b"v1", b"v11", b"v12"]
    queue.close()
    assert _values(SpillQueue(tmp_path)) == [b"v0", b"v1", b"v11", b"v12"]
    reopened = SpillQueue(tmp_path)
    reopened.acknowledge(3)
    assert _values(reopened) == [b"v12"]
