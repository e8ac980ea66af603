"""The bare-Temporal floor a checkout is measured against: same activities, signal and update.

    python bench/bare.py   # a worker for BareCheckout on $PAYFLOW_TASK_QUEUE

A `BareCheckout` is what a checkout costs Temporal with nothing of ours around it: started with
update-with-start (the update answers once the `begin` activity ran), one `begin` activity, one
signal from the provider's side, one `status` activity, done. Activities return at once, the
default data converter and sandbox are used, no search attributes, no memo, no codec.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="bare_begin")
async def bare_begin(order_id: str) -> str:
    """The provider's token for the order (no provider is asked)."""
    return f"token-{order_id}"


@activity.defn(name="bare_status")
async def bare_status(token: str) -> str:
    """The provider's answer (no provider is asked)."""
    return "completed"


@workflow.defn
class BareCheckout:
    """begin, wait for the provider's hint, check the status, end."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._hinted = False
        self._status = "created"

    @workflow.run
    async def run(self, order_id: str) -> str:
        timeout = timedelta(seconds=60)
        self._token = await workflow.execute_activity(
            bare_begin, order_id, start_to_close_timeout=timeout
        )
        self._status = "awaiting_customer"
        await workflow.wait_condition(lambda: self._hinted)
        self._status = await workflow.execute_activity(
            bare_status, self._token, start_to_close_timeout=timeout
        )
        return self._status

    @workflow.update
    async def begin(self) -> str:
        await workflow.wait_condition(lambda: self._token is not None)
        assert self._token is not None
        return self._token

    @workflow.signal
    def hint(self) -> None:
        self._hinted = True

    @workflow.query
    def status(self) -> str:
        return self._status


async def serve() -> None:
    """A worker with the same concurrency settings as payflow's."""
    from payflow.settings import PayflowSettings  # outside the workflow sandbox

    settings = PayflowSettings()
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BareCheckout],
        activities=[bare_begin, bare_status],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
    )
    await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    finally:
        os._exit(0)  # sdk-python#300
