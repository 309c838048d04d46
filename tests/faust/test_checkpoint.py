"""The ordered checkpoint, on a mock port: the order of the steps, and an abort on every early exit."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from unittest import mock

import pytest

from processors.checkpoint import Checkpointer, CheckpointError, CheckpointPort, DeliveryErrors, Progress


class _Port:
    """A spec for the mock (``spec_set`` wants a class with the port's methods)."""

    def take_changelogs(self, partitions: frozenset[int]) -> None: ...

    async def produce_changelogs(self, partitions: frozenset[int]) -> None: ...

    async def flush(self, partitions: frozenset[int]) -> None: ...

    async def send_offsets(self, offsets: Mapping[int, int]) -> None: ...

    async def commit(self, offsets: Mapping[int, int], start_new: bool) -> None: ...

    async def abort(self, partitions: frozenset[int]) -> None: ...


def _checkpointer() -> tuple[Checkpointer, mock.AsyncMock]:
    port = mock.AsyncMock(spec_set=_Port)
    port_typed: CheckpointPort = port
    return Checkpointer(port_typed, DeliveryErrors()), port


async def test_steps_run_in_order_changelog_flush_and_offsets_commit() -> None:
    checkpointer, port = _checkpointer()
    checkpointer.progress.done(0, 41)
    checkpointer.progress.done(2, 7)
    assert await checkpointer.checkpoint() == {0: 42, 2: 8}
    assert port.mock_calls == [
        mock.call.take_changelogs(frozenset({0, 2})),
        mock.call.produce_changelogs(frozenset({0, 2})),
        mock.call.flush(frozenset({0, 2})),
        mock.call.send_offsets({0: 42, 2: 8}),
        mock.call.commit({0: 42, 2: 8}, True),
    ]


async def test_nothing_processed_means_no_transaction_touched() -> None:
    checkpointer, port = _checkpointer()
    checkpointer.progress.done(1, 3)
    await checkpointer.checkpoint()
    port.reset_mock()
    assert await checkpointer.checkpoint() == {}
    assert port.mock_calls == []


@pytest.mark.parametrize("failing", ["take_changelogs", "produce_changelogs", "flush", "send_offsets", "commit"])
async def test_every_failing_step_aborts_and_poisons_the_checkpointer(failing: str) -> None:
    checkpointer, port = _checkpointer()
    getattr(port, failing).side_effect = OSError("broker gone")
    checkpointer.progress.done(0, 9)
    with pytest.raises(CheckpointError, match="broker gone"):
        await checkpointer.checkpoint()
    assert port.mock_calls[-1] == mock.call.abort(frozenset({0}))
    assert (mock.call.commit({0: 10}, True) in port.mock_calls) == (failing == "commit")
    assert mock.call.abort(frozenset({0})) not in port.mock_calls[:-1]  # one abort, after every step ended
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


async def test_a_failed_flush_aborts_only_once_the_offsets_were_sent() -> None:
    checkpointer, port = _checkpointer()
    order: list[str] = []

    async def send_offsets(offsets: Mapping[int, int]) -> None:
        await asyncio.sleep(0.01)
        order.append("offsets sent")

    port.flush.side_effect = OSError("broker gone")
    port.send_offsets.side_effect = send_offsets
    port.abort.side_effect = lambda partitions: order.append("abort")
    checkpointer.progress.done(0, 0)
    with pytest.raises(CheckpointError, match="broker gone"):
        await checkpointer.checkpoint()
    assert order == ["offsets sent", "abort"]


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


async def test_abandon_aborts_and_forgets_once_the_batch_being_processed_is_done() -> None:
    checkpointer, port = _checkpointer()
    checkpointer.progress.done(0, 4)
    checkpointer.progress.done(1, 9)
    checkpointer.progress.done(2, 1)
    checkpointer.progress.committed({2: 2})
    async with checkpointer.gate:
        abandon = asyncio.ensure_future(checkpointer.abandon(frozenset({0, 2})))
        await asyncio.sleep(0.01)
        assert port.mock_calls == []
    await abandon
    assert port.mock_calls == [mock.call.abort(frozenset({0}))]  # partition 2 sent nothing since its commit
    assert checkpointer.progress.position(0) is None and checkpointer.progress.position(2) is None
    assert await checkpointer.checkpoint() == {1: 10}


async def _blocked_commit(port: mock.AsyncMock, order: list[str]) -> asyncio.Event:
    """Make the port's commit wait for the returned event, noting when it starts and ends."""
    release = asyncio.Event()

    async def commit(offsets: Mapping[int, int], start_new: bool) -> None:
        order.append(f"commit {dict(offsets)} starts")
        await release.wait()
        order.append("commit ends")

    port.commit.side_effect = commit
    return release


async def test_batches_processed_during_the_commit_send_after_it_in_order() -> None:
    checkpointer, port = _checkpointer()
    order: list[str] = []
    release = await _blocked_commit(port, order)
    checkpointer.progress.done(0, 0)
    commit = asyncio.ensure_future(checkpointer.checkpoint())
    await asyncio.sleep(0.01)
    async with checkpointer.gate:  # free while the commit is in flight: processing goes on
        during = checkpointer.committing
        checkpointer.progress.done(0, 1)

        async def send(name: str) -> None:
            order.append(name)

        checkpointer.defer(lambda: send("batch 1 sent"))
        checkpointer.defer(lambda: send("batch 2 sent"))
    assert order == ["commit {0: 1} starts"]
    release.set()
    assert await commit == {0: 1}
    assert order == ["commit {0: 1} starts", "commit ends", "batch 1 sent", "batch 2 sent"]
    assert (during, checkpointer.committing) == (True, False)
    assert checkpointer.progress.uncommitted() == {0: 2}  # the next transaction's


async def test_one_checkpoint_at_a_time_and_abandon_waits_for_the_commit_in_flight() -> None:
    checkpointer, port = _checkpointer()
    order: list[str] = []
    release = await _blocked_commit(port, order)
    port.abort.side_effect = lambda partitions: order.append(f"abort {set(partitions)}")
    checkpointer.progress.done(0, 0)
    first = asyncio.ensure_future(checkpointer.checkpoint())
    await asyncio.sleep(0.01)
    async with checkpointer.gate:
        checkpointer.progress.done(1, 0)
    second = asyncio.ensure_future(checkpointer.checkpoint())
    abandon = asyncio.ensure_future(checkpointer.abandon(frozenset({1})))
    await asyncio.sleep(0.01)
    assert order == ["commit {0: 1} starts"]
    release.set()
    await asyncio.gather(first, second, abandon)
    assert order[:3] == ["commit {0: 1} starts", "commit ends", "abort {1}"]
    assert checkpointer.progress.position(1) is None
