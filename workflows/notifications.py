"""Deliver a flow's merchant events in order, one activity per event, while the flow goes on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.merchant import MerchantActivities, MerchantDelivery
    from state.notifications import Outbox
    from workflows.calls import failure_message

DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=15),
    maximum_attempts=0,
)
DELIVERY_WINDOW = timedelta(days=3)
"""How long one event is retried before it is given up (it can still be replayed)."""
ATTEMPT_TIMEOUT = timedelta(seconds=30)


class Notifier:
    """The flow's outbox and its one sender: the next event leaves only after the last settled."""

    def __init__(self, outbox: Outbox, *, provider: str, flow: str) -> None:
        self._outbox = outbox
        self._provider = provider
        self._flow = flow
        self._sender: asyncio.Task[None] | None = None

    def changed(self, order_id: str, status: str, needs_attention: bool) -> None:
        """Record an event if status or attention changed (and a URL was given), and send it."""
        if not self._outbox.wants((status, needs_attention)):
            return  # the common case, on every publish: no id drawn, nothing recorded
        event = self._outbox.record(
            event_id=str(workflow.uuid4()),
            at=workflow.now(),
            provider=self._provider,
            flow=self._flow,
            order_id=order_id,
            status=status,
            needs_attention=needs_attention,
        )
        if event is not None:
            self.resume()

    def resume(self) -> None:
        """Start the sender when events wait (a fresh run resends the one in flight)."""
        if self._outbox.next_pending() is not None and (
            self._sender is None or self._sender.done()
        ):
            self._sender = asyncio.create_task(self._send_pending())

    async def drained(self) -> None:
        """Until every event is delivered or given up: a flow ends only after its last event."""
        if self._outbox.next_pending() is not None:
            await workflow.wait_condition(lambda: self._outbox.next_pending() is None)

    async def _send_pending(self) -> None:
        outbox = self._outbox
        while (entry := outbox.next_pending()) is not None:
            assert outbox.url is not None
            try:
                receipt = await workflow.execute_activity_method(
                    MerchantActivities.deliver,
                    MerchantDelivery(url=outbox.url, event=entry.event),
                    start_to_close_timeout=ATTEMPT_TIMEOUT,
                    schedule_to_close_timeout=DELIVERY_WINDOW,
                    retry_policy=DELIVERY_RETRY,
                )
            except ActivityError as error:
                workflow.logger.warning("merchant event %s given up", entry.event.id)
                outbox.settle(entry, at=workflow.now(), attempts=0, error=failure_message(error))
                continue
            outbox.settle(entry, at=workflow.now(), attempts=receipt.attempt)
