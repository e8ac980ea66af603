"""Sleep until a hint arrives or the poll interval passes; shared by every polling workflow."""

from __future__ import annotations

import contextlib
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from state.polling import PollTiming


class Wakeup:
    """A flag that callbacks set and the workflow's poll loop waits on."""

    def __init__(self, timing: PollTiming, last_activity_at: datetime | None = None) -> None:
        self._timing = timing
        self._pending = False
        self.last_activity_at: datetime = last_activity_at or workflow.now()

    def hint(self) -> None:
        """A callback or return arrived: check now, and poll fast for a while."""
        self.last_activity_at = workflow.now()
        self._pending = True

    def nudge(self) -> None:
        """Something the workflow must act on now (a merchant's request); keeps the pace."""
        self._pending = True

    def next_interval(self) -> float:
        """Seconds to the next poll: fast while active, slow after."""
        return self._timing.interval((workflow.now() - self.last_activity_at).total_seconds())

    async def sleep(self, seconds: float | None = None) -> None:
        """Return when woken, or after `seconds` (default: the next poll interval)."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._pending,
                timeout=seconds if seconds is not None else self.next_interval(),
                timeout_summary="next provider status check",
            )
        self._pending = False
