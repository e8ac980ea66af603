"""Skip time on the test server in steps, so no single request outlasts its RPC timeout."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

STEP = timedelta(minutes=30)
"""One request's worth of skipped time: a loaded machine finishes its timers well within it."""


async def advance(env: WorkflowEnvironment, duration: timedelta, step: timedelta = STEP) -> None:
    """Let `duration` pass for every workflow on the server, `step` at a time."""
    left = duration
    while left > timedelta(0):
        step = min(left, step)
        await env.sleep(step)
        left -= step
