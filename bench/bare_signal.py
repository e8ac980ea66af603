"""The bare Temporal path `bench/webhooks.py` compares the gateway with: signal, one activity, query.

    python bench/bare_signal.py ADDRESS TASK_QUEUE     # the bare worker, until SIGTERM

`BareCheckout` waits for a `hint` signal, runs one no-op activity (as a checkout runs one
`/status` after a webhook), then shows `completed` in its `state` query and its `PaymentStatus` search attribute
(one visibility update, as a checkout's).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from payflow.search_attributes import PAYMENT_STATUS

AWAITING, COMPLETED = "awaiting_customer", "completed"


@activity.defn
async def bare_status(token: str) -> str:
    """Stands for `/status`: answers at once."""
    return COMPLETED


@workflow.defn
class BareCheckout:
    """Waits for a hint, checks once, shows the result; then stays open like a checkout does."""

    def __init__(self) -> None:
        self._status = AWAITING
        self._hinted = False

    @workflow.run
    async def run(self, token: str) -> str:
        await workflow.wait_condition(lambda: self._hinted)
        self._status = await workflow.execute_activity(
            bare_status, token, start_to_close_timeout=timedelta(seconds=60)
        )
        workflow.upsert_search_attributes([PAYMENT_STATUS.value_set(self._status)])
        await workflow.wait_condition(lambda: False, timeout=timedelta(hours=1))
        return self._status

    @workflow.signal
    def hint(self) -> None:
        self._hinted = True

    @workflow.query
    def state(self) -> str:
        return self._status


def bare_workflow_id(order_id: str) -> str:
    """One bare workflow per order, as one checkout."""
    return f"bare-{order_id}"


async def serve_worker(address: str, task_queue: str) -> None:
    """Run the bare worker until SIGTERM or SIGINT."""
    client = await Client.connect(address)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(
        client, task_queue=task_queue, workflows=[BareCheckout], activities=[bare_status]
    ):
        await stop.wait()


if __name__ == "__main__":
    import bare_signal  # the workflow from its own module, not __main__, for the sandbox to re-import

    asyncio.run(bare_signal.serve_worker(sys.argv[1], sys.argv[2]))
    os._exit(0)  # sdk-python#300: exit explicitly after Temporal work
