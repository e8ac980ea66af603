"""Concurrent writes joined into one transaction at a time: under load a process commits once
per batch, not once per caller, and waits on the database's write lock once per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from ledger.database import LedgerUnavailable

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

BATCH_LIMIT = 200
"""Most writes in one transaction: a batch stays well under the deadline of its callers."""


class GroupCommit(Generic[Item, Outcome]):
    """Callers hand in one item each and get its outcome; a single writer commits whatever
    queued while the previous batch was being written, in one transaction.

    A batch the database refused for a reason other than being unavailable is written again one
    item at a time, so one bad item fails only its own caller."""

    def __init__(
        self,
        commit: Callable[[Sequence[Item]], Awaitable[Sequence[Outcome]]],
        *,
        timeout: float,
        limit: int = BATCH_LIMIT,
    ) -> None:
        self._commit = commit
        self._timeout = timeout
        self._limit = limit
        self._queue: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Outcome:
        """The item's outcome once its batch committed; LedgerUnavailable after `timeout`
        (the item may still be written: every write is idempotent)."""
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._writer.get_loop() is not loop:
            self._queue, self._writer = [], None  # left behind by a loop that has closed
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_queued())
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            future.cancel()  # its batch, when it commits, has no one to tell
            raise LedgerUnavailable(f"no answer within {self._timeout:g} s") from None

    async def _write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._limit], self._queue[self._limit :]
            await self._write(batch)

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes = await self._commit([item for item, _ in batch])
        except LedgerUnavailable as error:
            for _, future in batch:
                _settle(future, error=error)
            return
        except Exception as error:  # noqa: BLE001 - isolated below, or the caller's to see
            if len(batch) > 1:
                for one in batch:
                    await self._write([one])
                return
            _settle(batch[0][1], error=error)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome=outcome)


def _settle(
    future: asyncio.Future[Outcome],
    *,
    outcome: Outcome | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():  # its caller gave up: nothing to tell
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)  # type: ignore[arg-type]
