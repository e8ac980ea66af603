"""The platform gate on the real dev server, driven as senders drive it: continue-as-new carries
the active lease, the called ticket and the queue; a gate started again never takes an old
lease for one of its own."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from temporalio.client import WorkflowHandle

from payflow.decision_keys import client_decision_keys
from state.withdraw_gate import (
    CONFIRM_UPDATE,
    ENQUEUE_UPDATE,
    GATE_WORKFLOW,
    RELEASE_SIGNAL,
    SETTLE_UPDATE,
    WAIT_AFTER_REPLY,
    Fate,
    GateState,
    Grant,
    LeaseRef,
    Release,
    Ticket,
    gate_workflow_id,
)
from tests.conftest import Stack
from tests.flows.helpers import eventually, outsider


def proven(stack: Stack, gate: WorkflowHandle[Any, Any], release: Release) -> Release:
    """The release as a payout's send activity reports it: proven with the worker's key."""
    return client_decision_keys(stack.client, stack.settings).prove(gate.id, release)


async def confirm(gate: WorkflowHandle[Any, Any], lease: LeaseRef) -> Grant:
    grant: Grant = await gate.execute_update(CONFIRM_UPDATE, lease.message(), result_type=Grant)
    return grant


async def called(gate: WorkflowHandle[Any, Any], order_id: str) -> LeaseRef:
    """The lease the gate called for `order_id`, as its turn signal names it."""
    state = await eventually(
        lambda: gate.query("state", result_type=GateState),
        lambda state: state.called is not None and state.called.ticket.order_id == order_id,
    )
    assert state.called is not None
    return state.called.ref


async def test_continue_as_new_carries_the_active_lease_and_the_queue(stack: Stack) -> None:
    platform = 10_000 + secrets.randbelow(1_000_000)
    queue = stack.settings.withdrawal_task_queue
    # a running workflow that takes the turn signals and ignores them, as a busy payout would
    holder = await stack.client.start_workflow(
        GATE_WORKFLOW, GateState(platform_id=platform + 1), id=gate_workflow_id(platform + 1),
        task_queue=queue,
    )  # fmt: skip
    started = await stack.client.start_workflow(
        GATE_WORKFLOW, GateState(platform_id=platform, leases_per_run=2),
        id=gate_workflow_id(platform), task_queue=queue,
    )  # fmt: skip
    first_run = started.result_run_id
    gate = stack.client.get_workflow_handle(started.id)  # whichever run is current
    try:
        for order in ("a", "b", "c"):
            ticket = Ticket(order_id=order, workflow_id=holder.id, attempt=1)
            await gate.execute_update(ENQUEUE_UPDATE, ticket, result_type=int)
        first = await called(gate, "a")
        assert (await confirm(gate, first)).answer == "granted"
        assert (await confirm(gate, first)).answer == "granted"  # armed: lease 1 may write now
        # lease 2 is called: the run has handed out its two leases and continues as new
        described = await eventually(
            gate.describe, lambda info: info.run_id != first_run, timeout=20
        )
        assert described.run_id != first_run
        second = await called(gate, "b")
        assert second.epoch == first_run and second.lease_id == 2  # called by the first run
        pending = asyncio.create_task(confirm(gate, second))  # the new run: lease 1 still active
        waiting = await eventually(
            lambda: gate.query("state", result_type=GateState),
            lambda state: state.called is not None and state.called.confirming,
        )
        assert waiting.active is not None and waiting.active.lease_id == 1
        assert not pending.done()
        release = Release(lease_id=1, epoch=first.epoch, fate=Fate.REPLIED)
        await gate.signal(RELEASE_SIGNAL, proven(stack, gate, release))
        granted = await asyncio.wait_for(pending, 20)
        assert granted.answer == "granted" and granted.wait_seconds == WAIT_AFTER_REPLY
        state: GateState = await gate.query("state", result_type=GateState)
        assert state.active is not None and state.active.lease_id == 2
        assert state.called is not None and state.called.ticket.order_id == "c"
        assert state.called.epoch == described.run_id  # the run that called it names it
        assert state.fate(first) is Fate.REPLIED and state.leases_total == 3
    finally:
        for handle in (gate, holder):
            await handle.terminate("test gate")


async def test_a_gate_started_again_never_takes_an_old_lease_for_a_new_one(stack: Stack) -> None:
    platform = 10_000 + secrets.randbelow(1_000_000)
    queue = stack.settings.withdrawal_task_queue
    holder = await stack.client.start_workflow(
        GATE_WORKFLOW, GateState(platform_id=platform + 1), id=gate_workflow_id(platform + 1),
        task_queue=queue,
    )  # fmt: skip
    gate_id = gate_workflow_id(platform)
    gate = await stack.client.start_workflow(
        GATE_WORKFLOW, GateState(platform_id=platform), id=gate_id, task_queue=queue
    )
    try:
        ticket = Ticket(order_id="a", workflow_id=holder.id, attempt=1)
        await gate.execute_update(ENQUEUE_UPDATE, ticket, result_type=int)
        old = await called(gate, "a")
        assert (await confirm(gate, old)).answer == "granted"
        assert (await confirm(gate, old)).answer == "granted"  # armed: a may be writing now
        await gate.terminate("an operator restarts the gate")
        gate = await stack.client.start_workflow(
            GATE_WORKFLOW, GateState(platform_id=platform), id=gate_id, task_queue=queue
        )
        ticket = Ticket(order_id="b", workflow_id=holder.id, attempt=1)
        await gate.execute_update(ENQUEUE_UPDATE, ticket, result_type=int)
        new = await called(gate, "b")
        assert new.lease_id == old.lease_id and new.epoch != old.epoch  # counted from 1 again
        # a's send activity failed: its settle must not be answered with b's lease
        fate = await gate.execute_update(SETTLE_UPDATE, old.message(), result_type=Fate)
        assert fate.maybe_sent  # so a's payout looks up instead of sending again
        stale = Release(lease_id=1, epoch=old.epoch, fate=Fate.NOT_SENT)
        await gate.signal(RELEASE_SIGNAL, proven(stack, gate, stale))
        assert (await confirm(gate, old)).answer == "refused"
        assert (await confirm(gate, new)).answer == "granted"  # b's turn was never taken
        state = await gate.query("state", result_type=GateState)
        assert state.active is not None and state.active.ref == new
        assert state.fate(old) is Fate.NO_REPLY and [r.order_id for r in state.recent] == ["b"]
    finally:
        for handle in (gate, holder):
            await handle.terminate("test gate")


async def test_a_release_sent_from_outside_payflow_is_refused_and_changes_nothing(
    stack: Stack,
) -> None:
    platform = 10_000 + secrets.randbelow(1_000_000)
    queue = stack.settings.withdrawal_task_queue
    holder = await stack.client.start_workflow(
        GATE_WORKFLOW, GateState(platform_id=platform + 1), id=gate_workflow_id(platform + 1),
        task_queue=queue,
    )  # fmt: skip
    gate = await stack.client.start_workflow(
        GATE_WORKFLOW, GateState(platform_id=platform), id=gate_workflow_id(platform),
        task_queue=queue,
    )  # fmt: skip
    try:
        ticket = Ticket(order_id="a", workflow_id=holder.id, attempt=1)
        await gate.execute_update(ENQUEUE_UPDATE, ticket, result_type=int)
        lease = await called(gate, "a")
        assert (await confirm(gate, lease)).answer == "granted"
        assert (await confirm(gate, lease)).answer == "granted"  # armed: a may be writing now
        # a plaintext release, as typed into the Temporal UI or CLI: the platform would be free
        # for a second request while a's may still be in flight
        plain = {"lease_id": lease.lease_id, "epoch": lease.epoch, "fate": "replied"}
        await outsider(stack.client).get_workflow_handle(gate.id).signal(RELEASE_SIGNAL, plain)
        # a proven release, but for another gate (moved), and one with a forged proof
        elsewhere = proven(stack, holder, Release(lease_id=1, epoch=lease.epoch, fate=Fate.REPLIED))
        await gate.signal(RELEASE_SIGNAL, elsewhere)
        assert elsewhere.proof is not None
        forged = elsewhere.model_copy(
            update={"proof": elsewhere.proof.model_copy(update={"mac": "0" * 64})}
        )
        await gate.signal(RELEASE_SIGNAL, forged)
        state = await eventually(
            lambda: gate.query("state", result_type=GateState), lambda s: len(s.refused) == 3
        )
        assert "no proof" in state.refused[0]
        assert all("does not match" in note for note in state.refused[1:])
        assert state.active is not None and state.active.ref == lease  # a still holds it
        assert state.fate(lease) is Fate.NO_REPLY  # never ended by any of them
        # the holder's own, proven release still ends it
        release = Release(lease_id=lease.lease_id, epoch=lease.epoch, fate=Fate.REPLIED)
        await gate.signal(RELEASE_SIGNAL, proven(stack, gate, release))
        state = await eventually(
            lambda: gate.query("state", result_type=GateState), lambda s: s.active is None
        )
        assert state.fate(lease) is Fate.REPLIED and len(state.refused) == 3
    finally:
        for handle in (gate, holder):
            await handle.terminate("test gate")
