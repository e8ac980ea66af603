"""Work the simulator does on its own (timers, callback deliveries), tracked for tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Background:
    """A set of running tasks that can be awaited until idle, or cancelled at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the current event loop and keep it tracked until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self, within: float) -> None:
        """Return once no task is left (tasks may start others); TimeoutError after `within` s.

        A task that failed re-raises here, so a simulator bug fails the test that waits.
        """
        async with asyncio.timeout(within):
            while self._tasks:
                results = await asyncio.gather(*self._tasks, return_exceptions=True)
                errors = [result for result in results if isinstance(result, Exception)]
                if errors:
                    raise errors[0]

    async def cancel(self) -> None:
        """Stop every task, e.g. when the server shuts down."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
