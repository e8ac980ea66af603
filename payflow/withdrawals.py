"""Typed Python API for Passimpay payouts: request once, read, resolve, deliver callbacks."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.decisions import DecisionKeys
from ledger.store import Ledger
from payflow.decision_keys import DecisionProver
from payflow.notify_targets import NotifyPolicy
from payflow.payment_records import PaymentRecords, live_or_kept
from payflow.workflow_calls import (
    CallBounds,
    PaymentConflict,
    TermsConflict,
    start_or_join,
    with_notify_url,
    within,
    workflow_errors,
)
from providers.passimpay import WithdrawCallback
from state.passimpay_withdrawal import WithdrawalStatus
from state.passimpay_withdrawal_models import (
    WithdrawalRequest,
    WithdrawalResolution,
    WithdrawalView,
)
from workflows.passimpay_withdrawal import (
    PROVIDER,
    PassimpayWithdrawal,
    withdrawal_workflow_id,
)


class WithdrawalRejected(PaymentConflict):
    """The payout was refused before anything was sent (bad currency, address or amount)."""

    def __init__(self, view: WithdrawalView) -> None:
        super().__init__(f"withdrawal {view.order_id} was rejected: {view.reason}")
        self.view = view


class PassimpayWithdrawals:
    """Request and steer payouts; each order_id maps to exactly one workflow and one payout."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        bounds: CallBounds | None = None,
        notify_url: str | None = None,
        notify_policy: NotifyPolicy | None = None,
        ledger: Ledger | None = None,
        proofs: DecisionKeys | None = None,
    ) -> None:
        """Without `ledger` nothing is registered or kept after Temporal deletes a payout;
        without `proofs` decisions are proven with the keys the settings name."""
        self._client = client
        self._prover = DecisionProver(client, proofs)
        self._notify_url = notify_url
        self._notify_policy = notify_policy
        self._task_queue = task_queue
        self._bounds = bounds or CallBounds.from_settings()
        self._records = PaymentRecords(ledger, client, self._bounds) if ledger else None

    async def request(self, request: WithdrawalRequest) -> WithdrawalView:
        """Start the order's payout (or join it) and return its state once validated.

        Raises WithdrawalRejected when validation refused it and PaymentConflict when the
        order already has a different payout.
        """
        request = with_notify_url(request, self._notify_url, self._notify_policy)
        workflow_id = withdrawal_workflow_id(request.order_id)
        kept = None
        if self._records is not None:
            kept = await self._records.before_start(
                "withdrawal",
                PROVIDER,
                request.order_id,
                {**request.summary(), "address_to": request.address_to},
                what="a withdrawal",
                workflow_id=workflow_id,
            )
        try:
            if kept is not None:  # its workflow is over: never a second payout
                view = WithdrawalView.model_validate(kept.view)
                raise WorkflowAlreadyStartedError(workflow_id, PassimpayWithdrawal.__name__)
            view = await start_or_join(
                self._client,
                run=PassimpayWithdrawal.run,
                update=PassimpayWithdrawal.submit,
                arg=request,
                start_args=[request, None],
                workflow_id=workflow_id,
                task_queue=self._task_queue,
                provider=PROVIDER,
                order_id=request.order_id,
                initial_status=WithdrawalStatus.CREATED.value,
                terms=request.summary(),
                seconds=self._bounds.slow,
            )
        except WorkflowAlreadyStartedError:
            if kept is None:
                view = await self.get(request.order_id)
            kept_request = view.request
            changed = kept_request.differs_from(
                request.payment_id, request.address_to, request.amount
            )
            if changed:
                raise TermsConflict(
                    f"order {request.order_id} already has a withdrawal with other terms: {changed}"
                ) from None
        except WorkflowUpdateFailedError:
            with workflow_errors(workflow_id):
                raise
        if view.status == WithdrawalStatus.REJECTED:
            raise WithdrawalRejected(view)
        return view

    def _handle(self, order_id: str) -> WorkflowHandle[PassimpayWithdrawal, WithdrawalView]:
        return self._client.get_workflow_handle_for(
            PassimpayWithdrawal.run, withdrawal_workflow_id(order_id)
        )

    async def get(self, order_id: str) -> WithdrawalView:
        """The payout's whole state (after it has ended too, and from the ledger of record once
        Temporal has deleted it)."""
        handle = self._handle(order_id)
        return await live_or_kept(
            self._records,
            "withdrawal",
            order_id,
            handle,
            PassimpayWithdrawal.state,
            self._bounds.quick,
            WithdrawalView,
        )

    async def resolve(self, order_id: str, resolution: WithdrawalResolution) -> WithdrawalView:
        """An operator's decision on a payout in `outcome_unknown`, proven for this payout (the
        workflow refuses one without the proof)."""
        handle = self._handle(order_id)
        resolution = self._prover.prove(handle.id, resolution)
        async with within(self._bounds.slow, handle.id) as rpc:
            return await handle.execute_update(
                PassimpayWithdrawal.resolve, resolution, rpc_timeout=rpc
            )

    async def check_now(self, order_id: str) -> None:
        """Ask the payout to read `/v2/withdrawstatus` now (an operator's reconciliation)."""
        handle = self._handle(order_id)
        async with within(self._bounds.quick, handle.id) as rpc:
            await handle.signal(PassimpayWithdrawal.check_now, rpc_timeout=rpc)

    async def withdraw_callback(self, order_id: str, callback: WithdrawCallback) -> None:
        """Forward a verified withdraw callback; PaymentNotFound/PaymentConflict when none is open."""
        handle = self._handle(order_id)
        async with within(self._bounds.signal, handle.id) as rpc:
            await handle.signal(PassimpayWithdrawal.withdraw_callback, callback, rpc_timeout=rpc)
