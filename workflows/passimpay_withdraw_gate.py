"""One gate per Passimpay platform: hands out `/v2/withdraw` send slots that never overlap.

Temporal runs a workflow's update handlers one at a time, so slots computed here are strictly
ordered for every worker on every task queue. The gate never ends on its own; continue-as-new
carries the last slot, so a new run can never hand out a slot closer than the spacing.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from state.withdraw_gate import (
        GATE_WORKFLOW,
        RESERVE_UPDATE,
        GateCarry,
        WithdrawSlot,
        gate_workflow_id,
    )
    from workflows.visibility import publish_identity

PROVIDER = "passimpay"
RESERVATIONS_PER_RUN = 500


@workflow.defn(name=GATE_WORKFLOW)
class PassimpayWithdrawGate:
    """Long-lived slot allocator of one platform; its state is one number and a short log."""

    @workflow.init
    def __init__(self, carried: GateCarry) -> None:
        self._carry = carried
        self._reserved_this_run = 0

    @workflow.run
    async def run(self, carried: GateCarry) -> None:
        publish_identity(PROVIDER, gate_workflow_id(carried.platform_id), "gate")
        await workflow.wait_condition(
            lambda: (
                self._reserved_this_run >= RESERVATIONS_PER_RUN
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carry)

    @workflow.update(name=RESERVE_UPDATE)
    def reserve(self, order_id: str) -> WithdrawSlot:
        """The next slot: at least the spacing after the last one, never in the past."""
        self._reserved_this_run += 1
        return self._carry.reserve(order_id, workflow.now().timestamp())

    @workflow.query
    def state(self) -> GateCarry:
        """The last slot handed out and the most recent reservations."""
        return self._carry
