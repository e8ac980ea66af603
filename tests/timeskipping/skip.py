"""Skip time on the test server in steps, each with room to finish on a slow machine."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.testing import WorkflowEnvironment

STEP = timedelta(minutes=30)
"""One request's worth of skipped time: a loaded machine finishes its timers well within it."""
RPC_TIMEOUT = timedelta(minutes=2)
"""How long one step may take in real time (the client's default is far shorter)."""


async def advance(env: WorkflowEnvironment, duration: timedelta, step: timedelta = STEP) -> None:
    """Let `duration` pass for every workflow on the server, `step` at a time."""
    left = duration
    while left > timedelta(0):
        request = SleepRequest()
        request.duration.FromTimedelta(min(left, step))
        await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=RPC_TIMEOUT)
        left -= min(left, step)
