"""Races of a Passimpay payout on the time-skipping server, with its activities replaced by test
doubles under the same names: sends that give their turn up without writing anything (a missed
slot, a lost grant, a crashed send whose lease the gate declares unsent) are queued again as new
attempts, late turns of given-up attempts are ignored, exactly one send is made, and the payout
ends paid with its history bounded; and the platform's real gate, continuing as new while a
settle waits on a lost holder's lease, answers it and carries the lease into the next run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.decisions import DecisionActivities, DecisionKeys
from activities.passimpay_withdrawals import WithdrawAttempt, WithdrawLookup, WithdrawOutcome
from payflow.withdrawals import PassimpayWithdrawals
from providers.passimpay import WithdrawResult, WithdrawStatus
from state.passimpay_withdrawal_models import WithdrawalFacts, WithdrawalRequest, WithdrawalState
from state.withdraw_gate import (
    CONFIRM_UPDATE,
    ENQUEUE_UPDATE,
    GATE_WORKFLOW,
    RELEASE_SIGNAL,
    SETTLE_UPDATE,
    TURN_SIGNAL,
    WAIT_AFTER_REPLY,
    Fate,
    GateState,
    Grant,
    LeaseName,
    LeaseRef,
    Release,
    Ticket,
    Turn,
    gate_workflow_id,
)
from tests.flows.helpers import eventually, new_order_id
from tests.timeskipping.ledger_double import with_ledger
from tests.timeskipping.payout_doubles import TRON, accepted, paid, usdt_facts
from tests.timeskipping.skip import advance
from worker import activity_methods
from workflows.calls import HISTORY_LIMIT
from workflows.passimpay_withdraw_gate import PassimpayWithdrawGate
from workflows.passimpay_withdrawal import PassimpayWithdrawal, withdrawal_workflow_id

PROOFS = DecisionKeys({"races": os.urandom(32)})
"""The key the payout activity doubles prove their gate releases with, as the real one does."""
CHECKER = DecisionActivities(PROOFS)

AMOUNT = Decimal(12)
STALE_LEASE = 999_999
"""The lease a late turn of an attempt already given up carries: it must never be used."""
EVENTS_PER_ROUND = 30
"""Generous events of one given-up round: queue, turn, send, backoff, and their tasks."""

T = TypeVar("T")
Payout = WorkflowHandle[PassimpayWithdrawal, WithdrawalState]


@dataclass
class Platform:
    """The gate and the provider as the doubles play them.

    Each queued ticket is called at once; before calling a later attempt the gate also delivers
    a late turn of the previous one. The first sends answer from `script` (`not_sent`, or
    `crash`: the send activity fails and its lease is declared unsent), then every send goes
    through; the status API knows the payout as paid once it was sent.
    """

    env: WorkflowEnvironment
    script: list[str] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    sends: list[WithdrawAttempt] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)
    lookups: int = 0
    sent: bool = False

    def lease_for(self, attempt: int) -> int:
        return attempt * 10

    @activity.defn(name="passimpay.validate_withdrawal")
    async def validate_withdrawal(self, request: WithdrawalRequest) -> WithdrawalFacts:
        return usdt_facts(request)

    @activity.defn(name="passimpay.enqueue_withdraw")
    async def enqueue_withdraw(self, ticket: Ticket) -> int:
        self.tickets.append(ticket)
        handle = self.env.client.get_workflow_handle(ticket.workflow_id)
        if ticket.attempt > 1:  # the given-up attempt's turn, arriving late
            await handle.signal(TURN_SIGNAL, Turn(attempt=ticket.attempt - 1, lease_id=STALE_LEASE))
        turn = Turn(attempt=ticket.attempt, lease_id=self.lease_for(ticket.attempt))
        await handle.signal(TURN_SIGNAL, turn)
        return 0

    @activity.defn(name="passimpay.withdraw")
    async def withdraw(self, attempt: WithdrawAttempt) -> WithdrawOutcome:
        self.sends.append(attempt)
        step = self.script.pop(0) if self.script else "sent"
        if step == "crash":
            raise ApplicationError("worker lost mid-send", type="WorkerLost", non_retryable=True)
        if step == "not_sent":
            return WithdrawOutcome(kind="not_sent", reason="slot missed: lease no longer called")
        self.sent = True
        return accepted(attempt)

    @activity.defn(name="passimpay.settle_withdraw_lease")
    async def settle_withdraw_lease(self, lease_id: int) -> Fate:
        self.settled.append(lease_id)
        return Fate.NOT_SENT  # the gate took the unarmed lease back: nothing was written

    @activity.defn(name="passimpay.withdraw_lookup")
    async def withdraw_lookup(self, lookup: WithdrawLookup) -> WithdrawStatus | None:
        self.lookups += 1
        if not self.sent:
            return None
        return paid(AMOUNT)


@dataclass
class Payouts:
    platform: Platform
    withdrawals: PassimpayWithdrawals

    async def request(self, order_id: str | None = None) -> Payout:
        """A payout with production timing that ends as soon as it is paid."""
        request = WithdrawalRequest(
            order_id=order_id or new_order_id("race-wd"),
            payment_id=70,
            address_to=TRON,
            amount=AMOUNT,
            late_callback_window_seconds=0,
        )
        view = await self.withdrawals.request(request)
        assert view.status in ("validated", "sending")
        return self.platform.env.client.get_workflow_handle_for(
            PassimpayWithdrawal.run, withdrawal_workflow_id(request.order_id)
        )


@pytest_asyncio.fixture(loop_scope="session")
async def payouts(time_skipping: WorkflowEnvironment) -> AsyncIterator[Payouts]:
    platform = Platform(time_skipping)
    task_queue = f"payflow-wd-race-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[PassimpayWithdrawal],
        activities=with_ledger([*activity_methods(platform), CHECKER.verify_proof]),
    ):
        yield Payouts(platform, PassimpayWithdrawals(time_skipping.client, task_queue=task_queue))


async def at(value: T) -> T:
    """`value` as an awaitable, for `eventually` on what a double recorded."""
    return value


async def history_length(handle: Payout) -> int:
    described = await handle.describe()
    return described.raw_description.workflow_execution_info.history_length


async def test_turns_given_up_are_queued_again_and_the_payout_is_sent_once(
    payouts: Payouts,
) -> None:
    platform = payouts.platform
    platform.script = ["not_sent", "crash", "not_sent", "not_sent", "crash"]
    given_up = len(platform.script)
    handle = await payouts.request()
    await advance(platform.env, timedelta(minutes=5))  # the backoffs and the status poll
    final = await handle.result()
    assert final.status == "paid" and final.transaction_id == "tx-1"
    assert final.not_sent == given_up and final.send_attempts == 1
    assert final.attempt == given_up + 1 and final.maybe_sent == []
    # every give-up queued a new attempt, and each send used that attempt's own turn
    assert [ticket.attempt for ticket in platform.tickets] == list(range(1, given_up + 2))
    assert [send.lease_id for send in platform.sends] == [
        platform.lease_for(attempt) for attempt in range(1, given_up + 2)
    ]
    assert STALE_LEASE not in platform.settled
    assert platform.settled == [platform.lease_for(2), platform.lease_for(5)]  # the crashes
    notes = [entry.event for entry in final.lifecycle.journal]
    assert notes.count("not_sent") == given_up and notes.count("accept") == 1
    assert final.runs == 1 and not final.needs_attention
    assert await history_length(handle) < EVENTS_PER_ROUND * (given_up + 1) + 60


async def test_a_long_run_of_turns_given_up_keeps_each_run_short(payouts: Payouts) -> None:
    platform = payouts.platform
    platform.script = ["not_sent"] * 100_000  # the platform misses every slot for hours
    handle = await payouts.request()
    first_run = (await handle.describe()).run_id
    longest, run = 0, first_run
    for _ in range(30):  # up to 15 hours, 30 minutes at a time (backoff at most 60 s)
        await advance(payouts.platform.env, timedelta(minutes=30))
        described = await handle.describe()
        run = described.run_id
        longest = max(longest, described.raw_description.workflow_execution_info.history_length)
        if run != first_run or longest > HISTORY_LIMIT + 10 * EVENTS_PER_ROUND:
            break
    platform.script.clear()  # the platform takes the payout again
    await advance(platform.env, timedelta(minutes=5))
    final = await handle.result()
    assert final.status == "paid" and final.send_attempts == 1 and final.not_sent > 100
    assert longest < HISTORY_LIMIT + 10 * EVENTS_PER_ROUND  # a fresh run before it grows on
    assert final.runs >= 2


# ---- the platform's gate continuing as new with a settle still waiting ------------------------


@dataclass
class GatedPlatform:
    """Doubles that queue, confirm, release and settle at the REAL gate workflow, as the real
    activities do, without any HTTP. A send of an order in `crash` arms its lease and then fails
    without reporting the lease's end (a worker lost mid-send)."""

    env: WorkflowEnvironment
    gate_id: str
    crash: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    settles: list[str] = field(default_factory=list)
    settle_waiting: asyncio.Event = field(default_factory=asyncio.Event)

    def gate(self) -> WorkflowHandle[Any, Any]:
        return self.env.client.get_workflow_handle(self.gate_id)

    async def confirm(self, lease: LeaseRef) -> Grant:
        while True:
            grant: Grant = await self.gate().execute_update(
                CONFIRM_UPDATE, lease.message(), result_type=Grant
            )
            if grant.answer != "retry":
                return grant
            await asyncio.sleep(0.05)

    @activity.defn(name="passimpay.validate_withdrawal")
    async def validate_withdrawal(self, request: WithdrawalRequest) -> WithdrawalFacts:
        return usdt_facts(request)

    @activity.defn(name="passimpay.enqueue_withdraw")
    async def enqueue_withdraw(self, ticket: Ticket) -> int:
        ahead: int = await self.gate().execute_update(ENQUEUE_UPDATE, ticket, result_type=int)
        return ahead

    @activity.defn(name="passimpay.withdraw")
    async def withdraw(self, attempt: WithdrawAttempt) -> WithdrawOutcome:
        order, lease = attempt.request.order_id, attempt.lease
        grant = await self.confirm(lease)
        self.grants[order] = grant
        self.log.append(f"granted {lease.lease_id}")
        if grant.answer != "granted":
            return WithdrawOutcome(kind="not_sent", reason=grant.reason)
        await self.confirm(lease)  # armed: from here a write may happen
        if order in self.crash:
            raise ApplicationError("worker lost mid-send", type="WorkerLost", non_retryable=True)
        release = Release(lease_id=lease.lease_id, epoch=lease.epoch, fate=Fate.REPLIED)
        await self.gate().signal(RELEASE_SIGNAL, PROOFS.prove(self.gate_id, release))
        request = attempt.request
        result = WithdrawResult(
            payment_id=request.payment_id,
            address_to=request.address_to,
            amount=request.amount,
            transaction_id=f"tx-{order}",
        )
        return WithdrawOutcome(kind="sent", result=result)

    @activity.defn(name="passimpay.settle_withdraw_lease")
    async def settle_withdraw_lease(self, lease: LeaseName) -> Fate:
        update = await self.gate().start_update(
            SETTLE_UPDATE, lease, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=Fate
        )
        self.settle_waiting.set()
        try:
            fate: Fate = await update.result()
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            self.settles.append(
                str(cause.type) if isinstance(cause, ApplicationError) else repr(cause)
            )
            raise
        self.settles.append(fate.value)
        return fate

    @activity.defn(name="passimpay.withdraw_lookup")
    async def withdraw_lookup(self, lookup: WithdrawLookup) -> WithdrawStatus | None:
        return WithdrawStatus(  # the provider has every payout that was sent, paid
            approve=1,
            transaction_id=f"tx-{lookup.order_id}",
            payment_id=70,
            address_to=TRON,
            amount=AMOUNT,
        )


async def test_the_gate_continues_as_new_with_a_settle_waiting_and_answers_it(
    time_skipping: WorkflowEnvironment,
) -> None:
    platform_id = random.randrange(10**6, 10**9)
    platform = GatedPlatform(time_skipping, gate_workflow_id(platform_id))
    task_queue = f"payflow-gate-race-{uuid.uuid4().hex[:8]}"
    client = time_skipping.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[PassimpayWithdrawal, PassimpayWithdrawGate],
        activities=with_ledger([*activity_methods(platform), CHECKER.verify_proof]),
    ):
        gate = await client.start_workflow(
            GATE_WORKFLOW,
            GateState(platform_id=platform_id, leases_per_run=2),  # a fresh run every 2 leases
            id=platform.gate_id,
            task_queue=task_queue,
        )
        first_run = gate.first_execution_run_id
        latest = client.get_workflow_handle(platform.gate_id)
        payouts = Payouts(
            Platform(time_skipping), PassimpayWithdrawals(client, task_queue=task_queue)
        )
        try:
            crashed_order = new_order_id("race-wd")
            platform.crash.add(crashed_order)
            crashed = await payouts.request(crashed_order)  # lease 1: armed, then its worker dies
            await asyncio.wait_for(platform.settle_waiting.wait(), 15)  # its settle waits
            waiting = await payouts.request()  # lease 2: the run's last; the gate drains
            await eventually(latest.describe, lambda described: described.run_id != first_run)
            await eventually(lambda: at(platform.settles), lambda settles: len(settles) >= 1)
            assert platform.settles == ["GateDraining"]  # answered at the drain: ask again
            assert "granted 2" not in platform.log  # lease 1 may still be writing
            platform.log.append("released 1")  # the lost holder's report arrives at last
            release = Release(lease_id=1, epoch=first_run, fate=Fate.REPLIED)
            await latest.signal(RELEASE_SIGNAL, PROOFS.prove(platform.gate_id, release))
            await eventually(lambda: at(platform.settles), lambda settles: len(settles) >= 2)
            await eventually(
                lambda: waiting.query(PassimpayWithdrawal.state),
                lambda view: view.status != "sending",
            )
            await advance(time_skipping, timedelta(minutes=1))  # the payouts' status polls
            first, second = await crashed.result(), await waiting.result()
            state = await latest.query(PassimpayWithdrawGate.state)  # carried across the runs
        finally:
            with contextlib.suppress(RPCError):
                await latest.terminate("test over")
    assert platform.settles == ["GateDraining", "replied"]  # the retry, in the next run
    assert first.status == "paid" and first.send_attempts == 1  # looked up, never resent
    assert first.maybe_sent and "lease replied" in first.maybe_sent[0]
    assert second.status == "paid" and second.send_attempts == 1 and second.not_sent == 0
    # one lease at a time: the second was granted only after the first one's report
    assert platform.log.index("released 1") < platform.log.index("granted 2")
    assert platform.grants[second.order_id].wait_seconds == WAIT_AFTER_REPLY
    assert state.leases_total == 2 and state.next_lease_id == 3
    assert state.active is None and state.called is None and state.queue == []
    assert [(r.lease_id, r.fate) for r in state.recent] == [
        (1, Fate.REPLIED),
        (2, Fate.REPLIED),
    ]
    history = await client.get_workflow_handle(gate.id, run_id=first_run).fetch_history()
    kinds = [event.event_type for event in history.events]
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
