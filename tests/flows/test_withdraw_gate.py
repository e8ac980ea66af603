"""The platform gate on the real dev server, driven as senders drive it: continue-as-new carries
the active lease, the called ticket and the queue."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from temporalio.client import WorkflowHandle

from state.withdraw_gate import (
    CONFIRM_UPDATE,
    ENQUEUE_UPDATE,
    GATE_WORKFLOW,
    RELEASE_SIGNAL,
    WAIT_AFTER_REPLY,
    Fate,
    GateState,
    Grant,
    Release,
    Ticket,
    gate_workflow_id,
)
from tests.conftest import Stack
from tests.flows.helpers import eventually


async def confirm(gate: WorkflowHandle[Any, Any], lease_id: int) -> Grant:
    grant: Grant = await gate.execute_update(CONFIRM_UPDATE, lease_id, result_type=Grant)
    return grant


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
        assert (await confirm(gate, 1)).answer == "granted"
        assert (await confirm(gate, 1)).answer == "granted"  # armed: lease 1 may write now
        # lease 2 is called: the run has handed out its two leases and continues as new
        described = await eventually(
            gate.describe, lambda info: info.run_id != first_run, timeout=20
        )
        assert described.run_id != first_run
        pending = asyncio.create_task(confirm(gate, 2))  # the new run: lease 1 still active
        waiting = await eventually(
            lambda: gate.query("state", result_type=GateState),
            lambda state: state.called is not None and state.called.confirming,
        )
        assert waiting.active is not None and waiting.active.lease_id == 1
        assert not pending.done()
        await gate.signal(RELEASE_SIGNAL, Release(lease_id=1, fate=Fate.REPLIED))
        granted = await asyncio.wait_for(pending, 20)
        assert granted.answer == "granted" and granted.wait_seconds == WAIT_AFTER_REPLY
        state: GateState = await gate.query("state", result_type=GateState)
        assert state.active is not None and state.active.lease_id == 2
        assert state.called is not None and state.called.ticket.order_id == "c"
        assert state.fate(1) is Fate.REPLIED and state.leases_total == 3
    finally:
        for handle in (gate, holder):
            await handle.terminate("test gate")
