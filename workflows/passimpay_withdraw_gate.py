"""One gate per Passimpay platform: one `/v2/withdraw` in flight at a time, in queue order.

Payout workflows queue a ticket (`enqueue`); the gate calls the head of the queue with a
`withdraw_turn` signal; that payout's send activity asks for its grant (`confirm`), which the gate
gives only once the previous holder reported its end (`release`) or its lease expired on the
gate's own timer. Temporal runs a workflow's handlers one at a time, so at most one lease is
ever active. The rules are pure functions in `state/withdraw_gate.py`.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from state.withdraw_gate import (
        CONFIRM_UPDATE,
        ENQUEUE_UPDATE,
        GATE_WORKFLOW,
        RELEASE_SIGNAL,
        SETTLE_UPDATE,
        TURN_SIGNAL,
        Fate,
        GateState,
        Grant,
        Lease,
        LeaseName,
        Release,
        Ticket,
        Turn,
        gate_workflow_id,
        lease_ref,
    )
    from workflows.calls import async_update
    from workflows.proofs import PROOF_PATCH, refusal
    from workflows.visibility import publish_identity

PROVIDER = "passimpay"
LEASE_EPOCH_PATCH = "withdraw-gate-lease-epochs"
"""Each run names its leases by its run id as well as by number, so a terminated, restarted or
reset gate never takes a settle or release of an old lease for one of its own (runs from before
name leases by number alone). Retire it (`deprecate_patch`) once no gate run from before it is
left: a gate continues as new every `leases_per_run` leases."""


@workflow.defn(name=GATE_WORKFLOW)
class PassimpayWithdrawGate:
    """Long-lived turn keeper of one platform; continue-as-new carries its whole state."""

    @workflow.init
    def __init__(self, state: GateState) -> None:
        self._state = state
        self._leases_this_run = 0
        self._draining = False
        self._changes = 0

    @workflow.run
    async def run(self, state: GateState) -> None:
        publish_identity(PROVIDER, gate_workflow_id(state.platform_id), "gate")
        patched = workflow.patched(LEASE_EPOCH_PATCH)
        self._state.epoch = workflow.info().run_id if patched else ""
        while not self._should_continue_as_new():
            called = self._state.call_next(workflow.now())
            if called is not None:
                self._leases_this_run += 1
                await self._call(called)
                continue
            await self._wait_for_change()
            for note in self._state.expire(workflow.now()):
                workflow.logger.warning("withdraw gate: %s", note)
        self._draining = True
        self._changed()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._state)

    def _should_continue_as_new(self) -> bool:
        return (
            self._leases_this_run >= self._state.leases_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _call(self, lease: Lease) -> None:
        """Tell the ticket's payout workflow that it may ask for its grant now."""
        ticket = lease.ticket
        try:
            await workflow.get_external_workflow_handle(ticket.workflow_id).signal(
                TURN_SIGNAL,
                Turn(attempt=ticket.attempt, lease_id=lease.lease_id, epoch=lease.epoch),
            )
        except FailureError as error:  # the payout workflow is gone: nothing will send
            workflow.logger.warning("withdraw gate: %s not reachable: %s", ticket.key, error)
            self._state.revoke(lease.ref)

    async def _wait_for_change(self) -> None:
        """Until a handler changed something, or the next lease or turn deadline passes."""
        seen = self._changes
        deadline = self._state.next_deadline()
        timeout = None
        if deadline is not None:
            timeout = max((deadline - workflow.now()).total_seconds(), 0.001)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._changes != seen or self._should_continue_as_new(),
                timeout=timedelta(seconds=timeout) if timeout is not None else None,
            )

    def _changed(self) -> None:
        self._changes += 1

    # ---- messages ----------------------------------------------------------------------------

    @workflow.update(name=ENQUEUE_UPDATE, description="Queue one send attempt (idempotent)")
    def enqueue(self, ticket: Ticket) -> int:
        """Queue one send attempt (idempotent); answers how many tickets wait ahead of it."""
        if self._state.enqueue(ticket):
            self._changed()
        return len(self._state.queue)

    @async_update("The called holder asks for its grant", name=CONFIRM_UPDATE)
    async def confirm(self, lease: LeaseName) -> Grant:
        """The called holder asks for its grant; answered once nobody else holds the platform."""
        if self._draining:
            return Grant(answer="retry")
        ref = lease_ref(lease)
        renewed = self._state.renew(ref, workflow.now())
        if renewed is not None:
            self._changed()
            return renewed
        called = self._state.called
        if called is None or not called.is_named(ref):
            return Grant(answer="refused", reason=f"lease {ref.key} is not called")
        called.confirming = True
        self._changed()
        await workflow.wait_condition(
            lambda: self._draining or not self._state.is_called(ref) or self._state.can_promote(ref)
        )
        if self._state.can_promote(ref) and not self._draining:
            grant = self._state.promote(workflow.now())
        elif self._state.is_called(ref):
            called.confirming = False
            grant = Grant(answer="retry")
        else:
            grant = Grant(answer="refused", reason=f"lease {ref.key} was taken back")
        self._changed()
        return grant

    @workflow.signal(name=RELEASE_SIGNAL, description="The holder's report of how its lease ended")
    async def release(self, release: Release) -> None:
        """The holder's report of how its lease ended; one without the payout activity's proof
        is kept as refused and changes nothing."""
        if workflow.patched(PROOF_PATCH):
            refused = await refusal(release)
            if refused is not None:
                note = f"release of lease {release.ref.key} ({release.fate.value}): {refused}"
                workflow.logger.warning("withdraw gate refused a %s", note)
                self._state.refuse(workflow.now(), note)
                return
        if self._state.release(release):
            self._changed()

    @async_update("For a payout whose send activity failed", name=SETTLE_UPDATE)
    async def settle(self, lease: LeaseName) -> Fate:
        """For a payout whose send activity failed: take back an ungranted lease, or wait for the
        granted one to end, and say whether anything may have been sent (a lease this gate run
        never issued: maybe, never another lease's answer)."""
        ref = lease_ref(lease)
        if self._state.revoke(ref) or self._state.end_unarmed(ref):
            self._changed()
            return Fate.NOT_SENT
        await workflow.wait_condition(lambda: self._draining or not self._state.is_open(ref))
        if self._state.is_open(ref):
            raise ApplicationError("the gate is continuing as new; ask again", type="GateDraining")
        return self._state.fate(ref)

    @workflow.query(
        description="The queue, the called and active leases, and the most recent outcomes"
    )
    def state(self) -> GateState:
        """The queue, the called and active leases, and the most recent outcomes."""
        return self._state
