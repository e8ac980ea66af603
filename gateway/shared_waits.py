"""Requests that wait for the same answer share one look-up, within bounds, holding no slot.

A customer's return waits seconds for its checkout to confirm with the lender. Replays of one
link (a reload, a back button, a script) join the look-up already under way instead of each
sending their own and holding a gateway slot while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class NoRoom:
    """No seat: `same_key` when the same look-up runs with every seat taken, else too many
    look-ups run at once."""

    same_key: bool


class SharedWaits(Generic[T]):
    """At most `keys` look-ups at once, each awaited by at most `per_key` requests."""

    def __init__(self, *, keys: int, per_key: int) -> None:
        self._max_keys = keys
        self._per_key = per_key
        self._running: dict[Hashable, asyncio.Future[T]] = {}
        self._waiting: dict[Hashable, int] = {}

    async def join(
        self,
        key: Hashable,
        look_up: Callable[[], Awaitable[T]],
        *,
        seated: Callable[[], None] = lambda: None,
    ) -> T | NoRoom:
        """The answer of the look-up for `key`, started now unless one runs already (its
        exception is raised to every waiter); NoRoom at once when a bound is reached. `seated`
        runs once the caller has a seat, before it waits. A waiter that goes away leaves the
        look-up running for the others."""
        running = self._running.get(key)
        if running is None:
            if len(self._running) >= self._max_keys:
                return NoRoom(same_key=False)
            running = asyncio.ensure_future(look_up())
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        elif self._waiting.get(key, 0) >= self._per_key:
            return NoRoom(same_key=True)
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            seated()
            return await asyncio.shield(running)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]

    def _finished(self, key: Hashable, done: asyncio.Future[T]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved here too: every waiter may have gone
