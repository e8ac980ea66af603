"""Bounded histories of a Passimpay invoice on the time-skipping server, with the provider
replaced by test doubles under the activities' own names: a partially paid invoice waiting a week
for a top-up, polled at production pace, stays under 10 000 events per run and still ends
credited once the week is over."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest_asyncio
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from payflow.crypto import PassimpayPayments
from providers.passimpay import CreateOrderRequest, InvoiceLink, OrderStatusV3
from state.passimpay_models import InvoiceRequest, InvoiceState, InvoiceTiming
from tests.flows.helpers import new_order_id
from tests.timeskipping.ledger_double import with_ledger
from tests.timeskipping.skip import advance
from workflows.passimpay_invoice import PassimpayInvoice, invoice_workflow_id

HISTORY_BOUND = 10_000
WEEK = timedelta(days=7)
PRODUCTION_POLLING = InvoiceTiming()  # every 15 s for 10 minutes, then every 2 minutes
PAID = Decimal("20.00")
QUERY_TIMEOUT = timedelta(seconds=3)
"""A query the test server hands to a run that then continues as new is never answered."""

InvoiceHandle = WorkflowHandle[PassimpayInvoice, InvoiceState]


@dataclass
class Provider:
    """What the doubles answer: `wait` with a partial payment until the invoice expires, then
    `error` with the same partial `amountPaid` (in USD, the invoice's unit), for ever."""

    expiry: timedelta
    created_at: datetime | None = None
    status_calls: int = 0

    @activity.defn(name="passimpay.create_order")
    async def create_order(self, request: CreateOrderRequest) -> InvoiceLink:
        self.created_at = activity.info().scheduled_time  # the server's (skipped) clock
        return InvoiceLink(url=f"https://pay.test/{request.order_id}")

    @activity.defn(name="passimpay.order_status")
    async def order_status(self, order_id: str) -> OrderStatusV3:
        self.status_calls += 1
        assert self.created_at is not None
        expired = activity.info().scheduled_time >= self.created_at + self.expiry
        return OrderStatusV3(
            status="error" if expired else "wait", amount_paid=PAID, currency="USD"
        )


@pytest_asyncio.fixture(loop_scope="session")
async def doubles(
    time_skipping: WorkflowEnvironment,
) -> AsyncIterator[tuple[Provider, PassimpayPayments]]:
    provider = Provider(expiry=timedelta(hours=1))
    task_queue = f"payflow-inv-skip-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[PassimpayInvoice],
        activities=with_ledger([provider.create_order, provider.order_status]),
    ):
        yield provider, PassimpayPayments(time_skipping.client, task_queue=task_queue)


async def current_state(handle: InvoiceHandle, seconds: float = 60.0) -> InvoiceState:
    """The invoice's state, asked again when a continue-as-new swallowed the query."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await handle.query(PassimpayInvoice.state, rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            assert time.monotonic() < deadline, "no query answered"
            await asyncio.sleep(0.2)


async def history_length(handle: InvoiceHandle) -> int:
    """Events in the invoice's current run."""
    described = await handle.describe()
    return described.raw_description.workflow_execution_info.history_length


async def run_lengths(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
    """Every run's event count, first run first: walked back from the latest run through each
    run's start event (the test server may leave the continue-as-new event out of a history
    whose last workflow task it refused, so a forward walk can stop early)."""
    runs: list[int] = []
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    while run_id and len(runs) < 100:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.first_execution_run_id == first_run_id
        run_id = started.continued_execution_run_id
    return runs[::-1]


def moved_at(state: InvoiceState, target: str) -> datetime:
    """When the invoice entered `target`."""
    return next(entry.at for entry in state.lifecycle.journal if entry.target == target)


async def test_a_week_waiting_for_a_top_up_stays_short_and_credits_the_partial_payment(
    time_skipping: WorkflowEnvironment, doubles: tuple[Provider, PassimpayPayments]
) -> None:
    began = time.monotonic()
    provider, crypto = doubles
    request = InvoiceRequest(
        order_id=new_order_id("skip-inv"),
        amount=Decimal("50.00"),
        expiry_seconds=provider.expiry.total_seconds(),
        partial_policy="wait_for_top_up",
        top_up_wait_seconds=WEEK.total_seconds(),
        late_deposit_window_seconds=3_600,
        timing=PRODUCTION_POLLING,
    )
    opened = await crypto.create_invoice(request)
    assert opened.status == "awaiting_payment"
    handle = time_skipping.client.get_workflow_handle_for(
        PassimpayInvoice.run, invoice_workflow_id(request.order_id)
    )
    first_run_id = (await handle.describe()).run_id

    longest = 0
    for _ in range(14):  # seven days in half days
        await advance(time_skipping, timedelta(hours=12), step=timedelta(hours=12))
        longest = max(longest, await history_length(handle))
    view = await current_state(handle)
    assert view.status == "expired_partial"  # expired after an hour: a week from then to go
    assert view.runs >= 2 and view.status_checks > 4_000  # polled every 2 minutes all along
    assert longest < HISTORY_BOUND

    await advance(time_skipping, timedelta(days=1), step=timedelta(hours=12))
    ended = await handle.result()  # credited after the week, then the late window passed
    assert ended.status == "credited_partial" and ended.late_until is not None
    expired_at = moved_at(ended, "expired_partial")
    credited_at = moved_at(ended, "credited_partial")
    assert ended.expired_partial_at == expired_at
    assert credited_at - expired_at >= WEEK and credited_at - ended.opened_at >= WEEK
    assert ended.late_until == credited_at + timedelta(hours=1) and not ended.late_keys
    assert ended.ended_with is not None and ended.ended_with.amount_paid == PAID
    lengths = await run_lengths(time_skipping.client, handle.id, first_run_id)
    assert len(lengths) == ended.runs >= 2 and max(lengths) < HISTORY_BOUND
    print(
        f"a week waiting for a top-up: {len(lengths)} runs of at most {max(lengths)} events "
        f"({sum(lengths)} in all), {ended.status_checks} status checks, "
        f"credited {credited_at - expired_at} after expiry, {time.monotonic() - began:.1f} s"
    )
