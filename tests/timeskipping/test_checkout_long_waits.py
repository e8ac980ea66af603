"""Bounded histories of a Payment Assist checkout on the time-skipping server, with the lender
replaced by test doubles under the activities' own names: thirty days waiting for an
on-request capture stay under 10 000 events per run and still end right."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest_asyncio
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.paymentassist import ApplicationUpdate, ClaimedStatus, InvoiceUpload
from payflow.checkouts import PaymentAssistCheckouts
from providers.paymentassist.models import (
    ApplicationStatus,
    AppStatus,
    BeginRequest,
    BeginResult,
    CaptureResult,
    InvoiceResult,
    PreapprovalRequest,
    UpdateResult,
)
from state.checkout_models import CheckoutTiming, CheckoutView
from tests.flows.helpers import checkout_request
from tests.timeskipping.claim_doubles import FreeTokens
from tests.timeskipping.ledger_double import with_ledger
from tests.timeskipping.skip import advance
from worker import activity_methods
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3, checkout_workflow_id
from workflows.paymentassist_checkout_v1 import PaymentAssistCheckout
from workflows.paymentassist_checkout_v2 import PaymentAssistCheckoutV2
from workflows.paymentassist_token_claim import PaymentAssistTokenClaim

HISTORY_BOUND = 10_000
PRODUCTION_POLLING = CheckoutTiming(invoice_watch_seconds=0)  # 30 s, then every 5 minutes


@dataclass
class Lender(FreeTokens):
    """What the doubles answer: the application's status, moved on by `/capture`."""

    answer: str = "in progress"
    status_calls: int = 0
    captures: int = 0
    tokens: list[str] = field(default_factory=list)

    @activity.defn(name="paymentassist.preapproval")
    async def preapproval(self, request: PreapprovalRequest) -> bool:
        return True

    @activity.defn(name="paymentassist.begin")
    async def begin(self, request: BeginRequest) -> BeginResult:
        token = str(uuid.uuid4())
        self.tokens.append(token)
        return BeginResult(token=token, url=f"https://lender.test/{token}")

    @activity.defn(name="paymentassist.status")
    async def status(self, token: str) -> ApplicationStatus:
        self.status_calls += 1
        return ApplicationStatus.model_validate(
            {"token": token, "status": self.answer, "amount": 49_900}
        )

    @activity.defn(name="paymentassist.status_with_claim")
    async def status_with_claim(self, token: str) -> ClaimedStatus:
        status = await self.status(token)  # no checkout claims a token here
        return ClaimedStatus(status=status, claim_read=status.status == AppStatus.COMPLETED)

    @activity.defn(name="paymentassist.capture")
    async def capture(self, token: str) -> CaptureResult:
        self.captures += 1
        self.answer = "completed"
        return CaptureResult.model_validate(
            {"token": token, "status": "completed", "deposit_captured": True}
        )

    @activity.defn(name="paymentassist.update")
    async def update(self, change: ApplicationUpdate) -> UpdateResult:
        return UpdateResult(token=change.token)

    @activity.defn(name="paymentassist.invoice")
    async def invoice(self, upload: InvoiceUpload) -> InvoiceResult:
        return InvoiceResult(token=upload.token, upload_status="success")


@pytest_asyncio.fixture(loop_scope="session")
async def lender(
    time_skipping: WorkflowEnvironment,
) -> AsyncIterator[tuple[Lender, PaymentAssistCheckouts]]:
    doubles = Lender()
    task_queue = f"payflow-co-skip-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[
            PaymentAssistCheckoutV3,
            PaymentAssistCheckoutV2,
            PaymentAssistCheckout,
            PaymentAssistTokenClaim,
        ],
        activities=with_ledger(activity_methods(doubles)),
    ):
        yield (
            doubles,
            PaymentAssistCheckouts(
                time_skipping.client, task_queue=task_queue, public_url="http://127.0.0.1:9"
            ),
        )


async def history_length(handle: WorkflowHandle[PaymentAssistCheckoutV3, CheckoutView]) -> int:
    """Events in the checkout's current run."""
    described = await handle.describe()
    return described.raw_description.workflow_execution_info.history_length


async def run_lengths(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
    """Every run's event count, from the first run through its continue-as-new chain."""
    runs: list[int] = []
    run_id: str | None = first_run_id
    while run_id is not None and len(runs) < 100:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(len(history.events))
        last = history.events[-1]
        continued = last.workflow_execution_continued_as_new_event_attributes
        run_id = continued.new_execution_run_id or None
    return runs


async def test_thirty_days_waiting_for_capture_stay_short_and_still_capture(
    time_skipping: WorkflowEnvironment, lender: tuple[Lender, PaymentAssistCheckouts]
) -> None:
    doubles, checkouts = lender
    doubles.answer = "pending_capture"  # approved; the merchant captures on request
    request = checkout_request(capture="on_request", auto_capture=False, timing=PRODUCTION_POLLING)
    started = await checkouts.start(request)
    handle = time_skipping.client.get_workflow_handle_for(
        PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
    )
    first_run_id = (await handle.describe()).run_id
    longest = 0
    for _ in range(30):
        await advance(time_skipping, timedelta(days=1), step=timedelta(hours=12))
        longest = max(longest, await history_length(handle))
    view = await handle.query(PaymentAssistCheckoutV3.state)
    assert view.status == "pending_capture" and view.capture_attempts == 0
    assert view.runs >= 2 and view.status_checks > 8_000  # polled every 5 minutes all along
    assert longest < HISTORY_BOUND
    joined = await checkouts.start(request)  # a repeated start still gets the carried token
    assert (joined.token, joined.url) == (started.token, started.url)
    captured = await checkouts.capture(request.order_id)
    assert captured.status == "completed" and captured.capture_attempts == 1
    assert doubles.captures == 1
    lengths = await run_lengths(time_skipping.client, handle.id, first_run_id)
    assert max(lengths) < HISTORY_BOUND
    print(f"30 days on-request capture: {len(lengths)} runs of at most {max(lengths)} events")
