"""The ordered checkpoint that makes a processor exactly-once, independent of Faust.

One checkpoint commits, atomically per source partition, everything the worker did since the previous one: the
derived records already sent, the changelog of the per-symbol state, and the input offsets. The steps run in a
fixed order, as Quix Streams does it, and every early exit aborts:

1. take the gate, so no batch of events is half processed (its outputs sent but its offsets not yet recorded),
   then the offsets and the state of every symbol that changed, and let the gate go (see :class:`Checkpointer`);
2. produce that state to the changelog;
3. flush the producers and, meanwhile, send the offsets to the transactions (exactly-once: their round trips to
   the coordinators need not wait for the flush, an abort discards them);
4. fail if any record (output or changelog) was not delivered, else commit the transactions (or, at-least-once,
   commit the consumer offsets);
5. send what was processed meanwhile, into the next transaction.

The offsets are the worker's own record of what it processed (:class:`Progress`), never a framework's ack
bookkeeping: they are exactly the events whose outputs and state are in the transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import NoReturn, Protocol

__all__ = ["CheckpointError", "CheckpointPort", "Checkpointer", "DeliveryErrors", "Progress"]


class CheckpointError(RuntimeError):
    """A checkpoint failed and was aborted: the worker must restart from the last committed state."""


class CheckpointPort(Protocol):
    """What a checkpoint drives, per source partition (one Kafka transaction each in exactly-once mode)."""

    def take_changelogs(self, partitions: frozenset[int]) -> None:
        """Take (and encode) the state, as of now, of these partitions' symbols that changed since the last call."""
        ...

    async def produce_changelogs(self, partitions: frozenset[int]) -> None:
        """Send the state taken last into these partitions' transactions."""
        ...

    async def flush(self, partitions: frozenset[int]) -> None:
        """Wait until every record sent for these partitions is acknowledged or failed."""
        ...

    async def send_offsets(self, offsets: Mapping[int, int]) -> None:
        """Add the input offsets (next offset to read, per partition) to their partitions' transactions (exactly-once;
        at-least-once has nothing to do before the flush)."""
        ...

    async def commit(self, offsets: Mapping[int, int], start_new: bool) -> None:
        """Commit the input offsets with everything sent before."""
        ...

    async def abort(self, partitions: frozenset[int]) -> None:
        """Abandon what these partitions sent since their last commit (best effort: never raises)."""
        ...


async def _all(*steps: Awaitable[None]) -> None:
    """Run ``steps`` concurrently until every one has ended, then raise the first failure: none is left running into
    the abort that follows a failure."""
    for outcome in await asyncio.gather(*steps, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


class DeliveryErrors:
    """The first failed delivery, recorded by a callback and raised at the next checkpoint: never swallowed."""

    def __init__(self) -> None:
        self._first: BaseException | None = None

    def on_delivery(self, delivery: asyncio.Future[object]) -> None:
        if self._first is None and not delivery.cancelled() and delivery.exception() is not None:
            self._first = delivery.exception()

    def raise_first(self) -> None:
        if self._first is not None:
            raise CheckpointError(f"a record was not delivered: {self._first!r}") from self._first


class Progress:
    """Per source partition, the next offset to process, as the worker processed it."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}
        self._committed: dict[int, int] = {}

    def seen(self, partition: int, offset: int) -> bool:
        """True for an offset already processed in this assignment (a redelivery after a seek)."""
        return offset < self._next.get(partition, -1)

    def done(self, partition: int, offset: int) -> None:
        self._next[partition] = offset + 1

    def position(self, partition: int) -> int | None:
        return self._next.get(partition)

    def uncommitted(self) -> dict[int, int]:
        return {p: o for p, o in self._next.items() if self._committed.get(p) != o}

    def committed(self, offsets: Mapping[int, int]) -> None:
        self._committed.update(offsets)

    def forget(self, partitions: frozenset[int]) -> None:
        """Drop revoked partitions: a later owner starts again from their committed offsets."""
        for partition in partitions:
            self._next.pop(partition, None)
            self._committed.pop(partition, None)


class Checkpointer:
    """Runs the ordered checkpoint. The worker processes a batch holding :attr:`gate`; while a commit is in flight
    (:attr:`committing`: after step 1, the gate is free again) it goes on processing but defers the batch's sends
    (:meth:`defer`), which belong to the next transaction: the checkpoint hands them to the producers, in order,
    once the commit is done. So the commit's round trips to the broker do not stall processing."""

    def __init__(self, port: CheckpointPort, errors: DeliveryErrors) -> None:
        self.gate = asyncio.Lock()
        self.progress = Progress()
        self.errors = errors
        self.failed: CheckpointError | None = None
        """Set by a failed checkpoint: nothing may be processed or committed after it, only a restart."""
        self._port = port
        self._serial = asyncio.Lock()
        self._settled = asyncio.Event()
        self._settled.set()
        self._deferred: deque[Callable[[], Awaitable[object]]] = deque()

    @property
    def committing(self) -> bool:
        return not self._settled.is_set()

    def defer(self, send: Callable[[], Awaitable[object]]) -> None:
        """Run ``send`` once the commit in flight is done (call it holding the gate, while :attr:`committing`)."""
        self._deferred.append(send)

    async def checkpoint(self, start_new: bool = True) -> dict[int, int]:
        """Commit what was processed; returns the committed offsets (empty when there was nothing to commit)."""
        async with self._serial:
            async with self.gate:
                if self.failed is not None:
                    raise self.failed
                offsets = self.progress.uncommitted()
                if not offsets:
                    return {}
                partitions = frozenset(offsets)
                self._settled.clear()
                try:
                    self.errors.raise_first()
                    self._port.take_changelogs(partitions)
                except BaseException as exc:
                    await self._fail(partitions, exc)
            try:
                await self._port.produce_changelogs(partitions)
                await _all(self._port.flush(partitions), self._port.send_offsets(offsets))
                self.errors.raise_first()
                await self._port.commit(offsets, start_new)
                self.progress.committed(offsets)
                while self._deferred:  # more may be deferred while these are sent: all go before the flag drops
                    await self._deferred.popleft()()
            except BaseException as exc:
                await self._fail(partitions, exc)
            self._settled.set()
            return offsets

    async def _fail(self, partitions: frozenset[int], exc: BaseException) -> NoReturn:
        await self._port.abort(partitions)
        self._deferred.clear()
        self._settled.set()
        failed = exc if isinstance(exc, CheckpointError) else CheckpointError(f"checkpoint failed: {exc!r}")
        self.failed = failed
        if failed is exc or not isinstance(exc, Exception):
            raise exc
        raise failed from exc

    async def abandon(self, partitions: frozenset[int]) -> None:
        """Give up what these partitions did since their last commit (they are being revoked): abort it (a partition
        that did nothing has nothing to abort) and forget their progress, so that whoever owns them next, this
        worker included, resumes from the last commit. A commit in flight ends first."""
        async with self.gate:
            await self._settled.wait()
            dirty = partitions & self.progress.uncommitted().keys()
            if dirty:
                await self._port.abort(dirty)
            self.progress.forget(partitions)
