"""Production bounds of a payout on the time-skipping server, with its activities replaced by
test doubles under the same names: a maybe-sent payout that the status API never finds waits
for an operator after the 10-minute lookup window, and a status API that keeps failing for
ten minutes raises `NeedsAttention` while the payout keeps asking, and thirty days in
`outcome_unknown` keep every run's history short."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest_asyncio
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.errors import TRANSIENT
from activities.passimpay_withdrawals import WithdrawAttempt, WithdrawLookup, WithdrawOutcome
from payflow.withdrawals import PassimpayWithdrawals
from providers.passimpay import WithdrawStatus
from state.passimpay_withdrawal_models import WithdrawalFacts, WithdrawalRequest, WithdrawalState
from state.withdraw_gate import TURN_SIGNAL, Fate, Ticket, Turn
from tests.flows.helpers import new_order_id
from tests.timeskipping.ledger_double import with_ledger
from tests.timeskipping.payout_doubles import TRON, accepted, paid, usdt_facts
from tests.timeskipping.skip import STEP, advance
from worker import activity_methods
from workflows.passimpay_withdrawal import PassimpayWithdrawal, withdrawal_workflow_id


@dataclass
class Provider:
    """What the doubles answer: the send's outcome, and how the status API behaves."""

    env: WorkflowEnvironment
    send: str = "sent"
    lookup: str = "not_found"  # or "failing", "paid"
    lookups: int = 0

    @activity.defn(name="passimpay.validate_withdrawal")
    async def validate_withdrawal(self, request: WithdrawalRequest) -> WithdrawalFacts:
        return usdt_facts(request)

    @activity.defn(name="passimpay.enqueue_withdraw")
    async def enqueue_withdraw(self, ticket: Ticket) -> int:
        handle = self.env.client.get_workflow_handle(ticket.workflow_id)
        await handle.signal(TURN_SIGNAL, Turn(attempt=ticket.attempt, lease_id=ticket.attempt))
        return 0

    @activity.defn(name="passimpay.withdraw")
    async def withdraw(self, attempt: WithdrawAttempt) -> WithdrawOutcome:
        if self.send == "maybe_sent":
            return WithdrawOutcome(kind="maybe_sent", reason="/v2/withdraw: no reply")
        return accepted(attempt)

    @activity.defn(name="passimpay.settle_withdraw_lease")
    async def settle_withdraw_lease(self, lease_id: int) -> Fate:
        return Fate.NOT_SENT

    @activity.defn(name="passimpay.withdraw_lookup")
    async def withdraw_lookup(self, lookup: WithdrawLookup) -> WithdrawStatus | None:
        self.lookups += 1
        if self.lookup == "failing":
            raise ApplicationError("/v2/withdrawstatus: HTTP 503", type=TRANSIENT)
        if self.lookup == "not_found":
            return None
        return paid(Decimal(12))


@pytest_asyncio.fixture(loop_scope="session")
async def doubles(
    time_skipping: WorkflowEnvironment,
) -> AsyncIterator[tuple[Provider, PassimpayWithdrawals]]:
    provider = Provider(time_skipping)
    task_queue = f"payflow-wd-skip-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[PassimpayWithdrawal],
        activities=with_ledger(activity_methods(provider)),
    ):
        yield provider, PassimpayWithdrawals(time_skipping.client, task_queue=task_queue)


@dataclass
class Payout:
    """One payout under way on the time-skipping server, read through its query."""

    env: WorkflowEnvironment
    order_id: str

    async def after(self, duration: timedelta, step: timedelta = STEP) -> WithdrawalState:
        """The payout's state once `duration` has passed."""
        await advance(self.env, duration, step)
        handle = self.env.client.get_workflow_handle_for(
            PassimpayWithdrawal.run, withdrawal_workflow_id(self.order_id)
        )
        return await handle.query(PassimpayWithdrawal.state)


async def start(
    doubles: tuple[Provider, PassimpayWithdrawals], *, send: str, lookup: str
) -> Payout:
    """Request a payout with production timing (lookup window 10 minutes, polls 3 s then 60 s)."""
    provider, withdrawals = doubles
    provider.send, provider.lookup = send, lookup
    request = WithdrawalRequest(
        order_id=new_order_id("skip-wd"),
        payment_id=70,
        address_to=TRON,
        amount=Decimal(12),
        late_callback_window_seconds=0,
    )
    await withdrawals.request(request)
    return Payout(provider.env, request.order_id)


async def test_maybe_sent_and_never_found_waits_for_an_operator_after_ten_minutes(
    doubles: tuple[Provider, PassimpayWithdrawals],
) -> None:
    payout = await start(doubles, send="maybe_sent", lookup="not_found")
    view = await payout.after(timedelta(minutes=9))
    assert view.status == "sending" and not view.needs_attention  # still looking it up
    view = await payout.after(timedelta(minutes=2))
    assert view.status == "outcome_unknown" and view.needs_attention
    assert "within 600 s" in (view.attention_reason or "") and view.send_attempts == 1
    doubles[0].lookup = "paid"  # the status API finally knows it: followed without an operator
    assert (await payout.after(timedelta(minutes=2))).status == "paid"


async def test_a_status_api_failing_for_ten_minutes_raises_attention_then_clears(
    doubles: tuple[Provider, PassimpayWithdrawals],
) -> None:
    provider = doubles[0]
    payout = await start(doubles, send="sent", lookup="failing")
    view = await payout.after(timedelta(minutes=5))
    assert view.status == "pending" and not view.needs_attention
    view = await payout.after(timedelta(minutes=7))
    assert view.status == "pending" and view.needs_attention
    assert "keeps failing" in (view.attention_reason or "")
    checks = provider.lookups
    provider.lookup = "paid"
    view = await payout.after(timedelta(minutes=2))
    assert view.status == "paid" and not view.needs_attention and provider.lookups > checks


async def test_thirty_days_in_outcome_unknown_stay_short_and_still_end_right(
    doubles: tuple[Provider, PassimpayWithdrawals],
) -> None:
    payout = await start(doubles, send="maybe_sent", lookup="not_found")
    view = await payout.after(timedelta(days=30), step=timedelta(hours=12))
    assert view.status == "outcome_unknown" and view.needs_attention
    assert view.runs >= 2 and view.unknown_polls > 1000  # asked all along, in fresh runs
    handle = payout.env.client.get_workflow_handle(withdrawal_workflow_id(payout.order_id))
    described = await handle.describe()
    assert described.raw_description.workflow_execution_info.history_length < 10_000
    doubles[0].lookup = "paid"  # the dashboard's payout finally shows in the status API
    view = await payout.after(timedelta(hours=1))
    assert view.status == "paid" and view.send_attempts == 1 and not view.needs_attention
