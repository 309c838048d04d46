"""The ordered checkpoint, on a mock port: the order of the steps, and an abort on every early exit."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from unittest import mock

import pytest

from processors.checkpoint import Checkpointer, CheckpointError, CheckpointPort, DeliveryErrors, Progress


class _Port:
    """A spec for the mock (``spec_set`` wants a class with the port's methods)."""

    async def produce_changelogs(self, partitions: frozenset[int]) -> None: ...

    async def flush(self, partitions: frozenset[int]) -> None: ...

    async def commit(self, offsets: Mapping[int, int], start_new: bool) -> None: ...

    async def abort(self, partitions: frozenset[int]) -> None: ...


def _checkpointer() -> tuple[Checkpointer, mock.AsyncMock]:
    port = mock.AsyncMock(spec_set=_Port)
    port_typed: CheckpointPort = port
    return Checkpointer(port_typed, DeliveryErrors()), port


async def test_steps_run_in_order_changelog_flush_commit() -> None:
    checkpointer, port = _checkpointer()
    checkpointer.progress.done(0, 41)
    checkpointer.progress.done(2, 7)
    assert await checkpointer.checkpoint() == {0: 42, 2: 8}
    assert port.mock_calls == [
        mock.call.produce_changelogs(frozenset({0, 2})),
        mock.call.flush(frozenset({0, 2})),
        mock.call.commit({0: 42, 2: 8}, True),
    ]


async def test_nothing_processed_means_no_transaction_touched() -> None:
    checkpointer, port = _checkpointer()
    checkpointer.progress.done(1, 3)
    await checkpointer.checkpoint()
    port.reset_mock()
    assert await checkpointer.checkpoint() == {}
    assert port.mock_calls == []


@pytest.mark.parametrize("failing", ["produce_changelogs", "flush", "commit"])
async def test_every_failing_step_aborts_and_poisons_the_checkpointer(failing: str) -> None:
    checkpointer, port = _checkpointer()
    getattr(port, failing).side_effect = OSError("broker gone")
    checkpointer.progress.done(0, 9)
    with pytest.raises(CheckpointError, match="broker gone"):
        await checkpointer.checkpoint()
    assert port.mock_calls[-1] == mock.call.abort(frozenset({0}))
    assert (mock.call.commit({0: 10}, True) in port.mock_calls) == (failing == "commit")
    port.reset_mock()
    with pytest.raises(CheckpointError):
        await checkpointer.checkpoint()
    assert port.mock_calls == []


async def test_an_undelivered_record_fails_the_checkpoint_after_the_flush() -> None:
    checkpointer, port = _checkpointer()
    delivery: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    delivery.add_done_callback(checkpointer.errors.on_delivery)
    delivery.set_exception(OSError("record too large"))
    await asyncio.sleep(0)
    checkpointer.progress.done(0, 0)
    with pytest.raises(CheckpointError, match="record too large"):
        await checkpointer.checkpoint()
    assert port.mock_calls == [mock.call.abort(frozenset({0}))]


async def test_the_checkpoint_waits_for_the_event_being_processed() -> None:
    checkpointer, port = _checkpointer()
    order: list[str] = []
    port.commit.side_effect = lambda offsets, start_new: order.append(f"commit {dict(offsets)}")
    async with checkpointer.gate:
        checkpointer.progress.done(0, 0)
        commit = asyncio.ensure_future(checkpointer.checkpoint())
        await asyncio.sleep(0.01)
        order.append("event 1 done")
        checkpointer.progress.done(0, 1)
    await commit
    assert order == ["event 1 done", "commit {0: 2}"]


def test_progress_skips_redeliveries_and_forgets_revoked_partitions() -> None:
    progress = Progress()
    progress.done(0, 5)
    assert progress.seen(0, 5) and not progress.seen(0, 6) and not progress.seen(1, 0)
    progress.committed({0: 6})
    assert progress.uncommitted() == {}
    progress.forget(frozenset({0}))
    assert not progress.seen(0, 5) and progress.position(0) is None
