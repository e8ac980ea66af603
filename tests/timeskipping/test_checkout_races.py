"""Races of a Payment Assist checkout on the time-skipping server, with the lender replaced by
test doubles under the activities' own names: a merchant's cancel or capture arriving while a
lender call is still in flight, a cancel arriving while `/begin` has not answered yet, and a
cancel still waiting when the run continues as new."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateHandle, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.paymentassist import MAYBE_SENT, ApplicationUpdate, ClaimedStatus, InvoiceUpload
from payflow.checkouts import CheckoutNotStarted, PaymentAssistCheckouts
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
from state.checkout_health import NOT_SENT
from state.checkout_models import CheckoutRequest, CheckoutTiming, CheckoutView
from tests.flows.helpers import checkout_request, eventually
from tests.timeskipping.claim_doubles import FreeTokens
from tests.timeskipping.ledger_double import with_ledger
from tests.timeskipping.skip import advance
from worker import activity_methods
from workflows.calls import HISTORY_LIMIT
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3, checkout_workflow_id
from workflows.paymentassist_checkout_v1 import PaymentAssistCheckout
from workflows.paymentassist_checkout_v2 import PaymentAssistCheckoutV2
from workflows.paymentassist_token_claim import PaymentAssistTokenClaim

AMOUNT = 49_900
FAST = CheckoutTiming(
    active_poll_seconds=0.3, idle_poll_seconds=0.3, invoice_watch_seconds=0
)  # polls in real time: the server's clock runs at wall speed between skips
EVERY_SECOND = CheckoutTiming(active_poll_seconds=1, idle_poll_seconds=1, invoice_watch_seconds=0)
HELD_FOR = 15.0
"""Longest a held double waits for the test before giving up on its own (never in a pass)."""

Checkout = WorkflowHandle[PaymentAssistCheckoutV3, CheckoutView]


class Hold:
    """Holds the next call of one double until the test lets it go."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = asyncio.Event()
        self.released = asyncio.Event()

    def arm(self) -> None:
        self.armed = True

    async def pass_through(self) -> None:
        if not self.armed:
            return
        self.armed = False
        self.entered.set()
        await asyncio.wait_for(self.released.wait(), HELD_FOR)

    async def reached(self) -> None:
        """Until the held call is in the double."""
        await asyncio.wait_for(self.entered.wait(), HELD_FOR)


@dataclass
class Lender(FreeTokens):
    """What the doubles answer; `/update expiry=0` (the cancel) expires the application."""

    answer: str = "in progress"
    begin_outcome: str = "token"  # or NotSent, MaybeSent
    capture_leaves: str = "completed"  # or pending_capture: the deposit was not collected
    expire_on_cancel: bool = True
    begins: int = 0
    status_calls: int = 0
    captures: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    begin_hold: Hold = field(default_factory=Hold)
    status_hold: Hold = field(default_factory=Hold)
    capture_hold: Hold = field(default_factory=Hold)

    @activity.defn(name="paymentassist.preapproval")
    async def preapproval(self, request: PreapprovalRequest) -> bool:
        return True

    @activity.defn(name="paymentassist.begin")
    async def begin(self, request: BeginRequest) -> BeginResult:
        self.begins += 1
        await self.begin_hold.pass_through()
        if self.begin_outcome != "token":
            raise ApplicationError(
                f"/begin: {self.begin_outcome}", type=self.begin_outcome, non_retryable=True
            )
        token = str(uuid.uuid4())
        self.tokens.append(token)
        return BeginResult(token=token, url=f"https://lender.test/{token}")

    @activity.defn(name="paymentassist.status")
    async def status(self, token: str) -> ApplicationStatus:
        self.status_calls += 1
        await self.status_hold.pass_through()
        return ApplicationStatus.model_validate(
            {"token": token, "status": self.answer, "amount": AMOUNT}
        )

    @activity.defn(name="paymentassist.status_with_claim")
    async def status_with_claim(self, token: str) -> ClaimedStatus:
        status = await self.status(token)  # no checkout claims a token here
        return ClaimedStatus(status=status, claim_read=status.status == AppStatus.COMPLETED)

    @activity.defn(name="paymentassist.capture")
    async def capture(self, token: str) -> CaptureResult:
        self.captures.append(token)
        await self.capture_hold.pass_through()
        self.answer = self.capture_leaves
        collected = self.capture_leaves == "completed"
        return CaptureResult.model_validate(
            {"token": token, "status": self.answer, "deposit_captured": collected}
        )

    @activity.defn(name="paymentassist.update")
    async def update(self, change: ApplicationUpdate) -> UpdateResult:
        if change.expiry == 0:
            self.cancels.append(change.token)
            if self.expire_on_cancel and self.answer not in ("completed", "failed"):
                self.answer = "expired"
        return UpdateResult(token=change.token)

    @activity.defn(name="paymentassist.invoice")
    async def invoice(self, upload: InvoiceUpload) -> InvoiceResult:
        return InvoiceResult(token=upload.token, upload_status="success")

    def release_all(self) -> None:
        for hold in (self.begin_hold, self.status_hold, self.capture_hold):
            hold.armed = False
            hold.released.set()


@dataclass
class Shop:
    """The merchant's side: the typed API and the client, on this test's own task queue."""

    env: WorkflowEnvironment
    lender: Lender
    checkouts: PaymentAssistCheckouts
    orders: list[str] = field(default_factory=list)

    def handle(self, request: CheckoutRequest) -> Checkout:
        if request.order_id not in self.orders:
            self.orders.append(request.order_id)
        return self.env.client.get_workflow_handle_for(
            PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
        )

    async def view(self, request: CheckoutRequest) -> CheckoutView:
        return await self.handle(request).query(PaymentAssistCheckoutV3.state)

    async def until(self, request: CheckoutRequest, *statuses: str) -> CheckoutView:
        return await eventually(
            lambda: self.view(request), lambda view: view.status in statuses, timeout=HELD_FOR
        )

    async def accepted_cancel(self, request: CheckoutRequest) -> WorkflowUpdateHandle[CheckoutView]:
        return await self.handle(request).start_update(
            PaymentAssistCheckoutV3.cancel, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )

    async def accepted_capture(
        self, request: CheckoutRequest
    ) -> WorkflowUpdateHandle[CheckoutView]:
        return await self.handle(request).start_update(
            PaymentAssistCheckoutV3.request_capture, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )


@pytest_asyncio.fixture(loop_scope="session")
async def shop(time_skipping: WorkflowEnvironment) -> AsyncIterator[Shop]:
    lender = Lender()
    task_queue = f"payflow-co-race-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[
            PaymentAssistCheckoutV3,
            PaymentAssistCheckoutV2,
            PaymentAssistCheckout,
            PaymentAssistTokenClaim,
        ],
        activities=with_ledger(activity_methods(lender)),
    ):
        checkouts = PaymentAssistCheckouts(
            time_skipping.client, task_queue=task_queue, public_url="http://127.0.0.1:9"
        )
        shop = Shop(time_skipping, lender, checkouts)
        try:
            yield shop
        finally:
            lender.release_all()
            for order_id in shop.orders:  # no checkout of this test waits on into the next one
                with contextlib.suppress(RPCError):
                    await time_skipping.client.get_workflow_handle(
                        checkout_workflow_id(order_id)
                    ).terminate("test over")


# ---- an update while an activity is in flight -------------------------------------------------


async def test_cancel_during_a_status_check_sends_one_cancel_and_ends_cancelled(
    shop: Shop,
) -> None:
    lender = shop.lender
    request = checkout_request(timing=FAST)
    lender.status_hold.arm()
    started = await shop.checkouts.start(request)
    await lender.status_hold.reached()  # the first `/status` is in the double
    cancel = await shop.accepted_cancel(request)
    lender.status_hold.released.set()  # the customer is still busy at the lender
    answer = await cancel.result()
    assert answer.status == "cancelled" and answer.token == started.token
    assert lender.cancels == [started.token]  # sent once, for the checkout's own application
    final = await shop.handle(request).result()
    assert final.status == "cancelled" and final.provider_status == "expired"
    assert lender.cancels == [started.token] and lender.begins == 1


async def test_cancel_during_a_status_check_that_finds_it_completed_sends_no_cancel(
    shop: Shop,
) -> None:
    lender = shop.lender
    request = checkout_request(timing=FAST)
    lender.status_hold.arm()
    await shop.checkouts.start(request)
    await lender.status_hold.reached()
    lender.answer = "completed"  # the customer finished while `/status` was on its way
    cancel = await shop.accepted_cancel(request)
    lender.status_hold.released.set()
    answer = await cancel.result()
    assert answer.status == "completed"  # too late to cancel: answered, not hanging
    final = await shop.handle(request).result()
    assert final.status == "completed" and lender.cancels == []


async def test_capture_requests_and_a_cancel_during_the_capture_send_it_once(
    shop: Shop,
) -> None:
    lender = shop.lender
    lender.answer = "pending_capture"  # approved; the merchant captures on request
    request = checkout_request(capture="on_request", auto_capture=False, timing=FAST)
    started = await shop.checkouts.start(request)
    await shop.until(request, "pending_capture")
    lender.capture_hold.arm()
    first = await shop.accepted_capture(request)
    await lender.capture_hold.reached()  # `/capture` is in the double
    second = await shop.accepted_capture(request)  # the merchant's button, pressed again
    cancel = await shop.accepted_cancel(request)  # and a cancel racing the capture
    lender.capture_hold.released.set()
    for update in (first, second):
        view = await update.result()
        assert view.status == "completed" and view.capture_attempts == 1
    assert (await cancel.result()).status == "completed"  # the capture won: nothing to cancel
    final = await shop.handle(request).result()
    assert final.status == "completed" and final.capture_attempts == 1
    assert lender.captures == [started.token] and lender.cancels == []


async def test_a_capture_request_during_an_unfinished_capture_does_not_capture_again(
    shop: Shop,
) -> None:
    lender = shop.lender
    lender.answer = "pending_capture"
    request = checkout_request(capture="on_request", auto_capture=False, timing=FAST)
    await shop.checkouts.start(request)
    await shop.until(request, "pending_capture")
    lender.capture_hold.arm()
    first = await shop.accepted_capture(request)
    await lender.capture_hold.reached()
    second = await shop.accepted_capture(request)  # pressed again while the first is on its way
    lender.capture_leaves = "pending_capture"  # the deposit was not collected this time
    lender.capture_hold.released.set()
    answers = [await first.result(), await second.result()]
    polls = lender.status_calls

    async def progress() -> tuple[int, int]:
        return len(lender.captures), lender.status_calls

    # a few more polls, or a second capture: whichever comes first
    await eventually(progress, lambda seen: seen[0] > 1 or seen[1] >= polls + 3)
    # every `/capture` sent is one a merchant's request is answered with
    assert len(lender.captures) == max(view.capture_attempts for view in answers)


# ---- a cancel while `/begin` is in flight -----------------------------------------------------


async def start_in_background(shop: Shop, request: CheckoutRequest) -> asyncio.Task[object]:
    """The merchant's start call, waiting for `/begin` (held by the double)."""

    async def start() -> object:
        try:
            return await shop.checkouts.start(request)
        except CheckoutNotStarted as error:
            return error

    task = asyncio.create_task(start())
    await shop.lender.begin_hold.reached()
    return task


async def test_cancel_during_begin_cancels_the_application_begin_returns(shop: Shop) -> None:
    lender = shop.lender
    request = checkout_request(timing=FAST)
    lender.begin_hold.arm()
    start = await start_in_background(shop, request)
    cancel = await shop.accepted_cancel(request)
    lender.begin_hold.released.set()  # `/begin` answers after all: the lender has an application
    answer = await cancel.result()
    (token,) = lender.tokens
    assert answer.status == "cancelled" and answer.token == token
    assert answer.claimed_token is None  # tracked as its token; only an operator's attach claims
    assert lender.cancels == [token] and lender.begins == 1
    started = await start
    assert getattr(started, "token", None) == token  # the starter learns it too
    final = await shop.handle(request).result()
    assert final.status == "cancelled" and final.begin_attempts == 1


async def test_cancel_during_a_begin_that_was_not_sent_ends_without_resending(
    shop: Shop,
) -> None:
    lender = shop.lender
    lender.begin_outcome = NOT_SENT  # nothing reached the lender
    request = checkout_request(timing=FAST)
    lender.begin_hold.arm()
    start = await start_in_background(shop, request)
    cancel = await shop.accepted_cancel(request)
    lender.begin_hold.released.set()
    answer = await cancel.result()
    assert answer.status == "cancelled" and answer.token is None
    assert lender.begins == 1 and lender.cancels == []  # not resent: the merchant gave up
    assert isinstance(await start, CheckoutNotStarted)
    assert (await shop.handle(request).result()).status == "cancelled"


async def test_cancel_during_a_begin_with_no_answer_asks_an_operator(shop: Shop) -> None:
    lender = shop.lender
    lender.begin_outcome = MAYBE_SENT  # the lender may hold an application we have no token for
    request = checkout_request(timing=FAST)
    lender.begin_hold.arm()
    start = await start_in_background(shop, request)
    cancel = await shop.accepted_cancel(request)
    lender.begin_hold.released.set()
    answer = await cancel.result()
    assert answer.status == "needs_attention" and answer.needs_attention
    assert request.order_id in (answer.attention_reason or "")
    assert lender.begins == 1 and lender.cancels == []  # never resent blindly
    assert isinstance(await start, CheckoutNotStarted)
    view = await shop.view(request)
    assert view.status == "needs_attention" and view.begin_attempts == 1


# ---- continue-as-new with a cancel still waiting ----------------------------------------------


async def test_a_cancel_waiting_at_continue_as_new_is_answered_and_carried(shop: Shop) -> None:
    lender = shop.lender
    lender.expire_on_cancel = False  # the lender is slow to expire it: the cancel keeps waiting
    request = checkout_request(timing=EVERY_SECOND)
    started = await shop.checkouts.start(request)
    handle = shop.handle(request)
    first_run = (await handle.describe()).run_id
    cancel = await shop.accepted_cancel(request)

    async def cancels_sent() -> int:
        return len(lender.cancels)

    await eventually(cancels_sent, lambda sent: sent == 1)
    run = first_run
    for _ in range(40):  # polls every second: about ten events a poll
        await advance(shop.env, timedelta(minutes=2))
        run = (await handle.describe()).run_id
        if run != first_run:
            break
    assert run != first_run, "no continue-as-new within 80 minutes of polls"
    answer = await asyncio.wait_for(cancel.result(), HELD_FOR)  # answered, not lost
    assert answer.status == "awaiting_customer" and answer.runs == 0  # the state so far
    assert answer.status_checks > 0
    carried = await handle.query(PaymentAssistCheckoutV3.state)
    assert carried.runs == 1 and carried.token == started.token
    assert carried.status == "awaiting_customer"
    lender.answer = "expired"  # the cancel finally took effect at the lender
    final = await asyncio.wait_for(handle.result(), HELD_FOR)
    assert final.status == "cancelled" and final.runs == 1  # the carried cancel, confirmed
    assert lender.cancels == [started.token]  # the next run did not send it again
    first = await shop.env.client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    kinds = [event.event_type for event in first.events]
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED in kinds  # in the first run
    assert len(kinds) < HISTORY_LIMIT + 100
