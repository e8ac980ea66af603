"""The bare-Temporal floor a checkout is measured against: same activities, signal and update.

    python bench/bare.py   # a worker for BareCheckout on $PAYFLOW_TASK_QUEUE

A `BareCheckout` is a checkout with nothing of ours around the provider calls: started with
update-with-start (the update answers once the `begin` activity ran), one `begin` activity, one
signal from the provider's side, one `status` activity, done. The activities make the same
signed `/begin` and `/status` requests to the simulator (so both sides pay for the same provider
work); the default data converter and sandbox are used, no search attributes, memo, codec,
token claim, gateway or webhook verification.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


class Provider:
    """The simulator, through the same provider client payflow's worker uses."""

    def __init__(self) -> None:
        from providers.paymentassist.client import PaymentAssistClient

        self.client = PaymentAssistClient(
            os.environ["PAYMENTASSIST_API_URL"],
            os.environ["PAYMENTASSIST_API_KEY"],
            os.environ["PAYMENTASSIST_API_SECRET"],
        )

    @activity.defn(name="bare_begin")
    async def bare_begin(self, order_id: str) -> str:
        """`/begin` for the order; its token."""
        from providers.paymentassist.models import BeginRequest

        request = BeginRequest(
            order_id=order_id, amount=49_900, email="ada@example.com", f_name="Ada",
            s_name="Lovelace", addr1="1 Way", postcode="AB1 2CD",
        )  # fmt: skip
        return (await self.client.begin(request)).token

    @activity.defn(name="bare_status")
    async def bare_status(self, token: str) -> str:
        """`/status`: the application's status."""
        return (await self.client.status(token)).status.value


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
            "bare_begin", order_id, start_to_close_timeout=timeout, result_type=str
        )
        self._status = "awaiting_customer"
        await workflow.wait_condition(lambda: self._hinted)
        self._status = await workflow.execute_activity(
            "bare_status", self._token, start_to_close_timeout=timeout, result_type=str
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
    provider = Provider()
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BareCheckout],
        activities=[provider.bare_begin, provider.bare_status],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
    )
    await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    finally:
        os._exit(0)  # sdk-python#300
