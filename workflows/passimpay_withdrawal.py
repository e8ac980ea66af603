"""One Passimpay payout per order: validated, sent exactly once at a reserved slot, followed to
paid or failed; whatever nobody can tell waits for an operator."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.errors import INVALID_INPUT, NON_RETRYABLE_TYPES, REFUSED
    from activities.passimpay import PassimpayActivities
    from activities.passimpay_withdrawals import (
        WITHDRAWAL_EXISTS,
        PassimpayWithdrawalActivities,
        WithdrawAttempt,
    )
    from providers.passimpay.models import WithdrawCallback, WithdrawRequest, WithdrawStatus
    from state.passimpay_withdrawal import WithdrawalLifecycle, WithdrawalStatus
    from state.passimpay_withdrawal_models import (
        WithdrawalRequest,
        WithdrawalResolution,
        WithdrawalView,
        WithdrawCallbackRecord,
    )
    from state.withdraw_gate import WithdrawSlot, shown
    from workflows.calls import ONE_TRY, call, failure_message, failure_type
    from workflows.visibility import publish_identity, publish_status
    from workflows.wakeup import Wakeup

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-withdrawal:"
MAX_AMBIGUOUS_ROUNDS = 5
"""Sends or status inquiries without a definite answer before an operator must decide."""
SCHEDULE_AHEAD = 3.0
"""Seconds before its slot the send activity is scheduled; until then a timer waits, not a worker."""
HEARTBEAT = timedelta(seconds=5)
SEND_GRACE = 60.0
"""The send activity's time after its slot (on top of the wait for the slot)."""
MAX_STATUS_BACKOFF = 60.0
CALLBACK_LIMIT = 50
SENDABLE = frozenset({WithdrawalStatus.VALIDATED, WithdrawalStatus.SENDING})

UNTIL_DONE = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
"""For calls that send nothing (validation, slot reservation): retry until they answer."""

S = WithdrawalStatus


def withdrawal_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's payout."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


@workflow.defn
class PassimpayWithdrawal:
    """Carries one payout from validation to paid or failed; never sends it twice."""

    @workflow.init
    def __init__(self, request: WithdrawalRequest) -> None:
        self._request = request
        self._lifecycle = WithdrawalLifecycle()
        self._wakeup = Wakeup(request.timing)
        self._currency: str | None = None
        self._provider: WithdrawStatus | None = None
        self._transaction_id: str | None = None
        self._reason: str | None = None
        self._attention_reason: str | None = None
        self._contradiction: str | None = None
        self._resolution: WithdrawalResolution | None = None
        self._send_attempts = 0
        self._slots_missed = 0
        self._ambiguous_rounds = 0
        self._status_checks = 0
        self._last_checked_at: datetime | None = None
        self._callbacks: list[WithdrawCallbackRecord] = []

    @workflow.run
    async def run(self, request: WithdrawalRequest) -> WithdrawalView:
        publish_identity(PROVIDER, request.order_id, self._status)
        if await self._validate():
            while not self._lifecycle.is_final:
                if self._status in SENDABLE:
                    await self._deliver()
                elif self._status == S.PENDING:
                    await self._follow()
                else:
                    await self._await_operator()
        await self._keep_for_late_callbacks()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    # ---- validation --------------------------------------------------------------------------

    async def _validate(self) -> bool:
        """Check currency, address, minimum and balance before anything can be sent."""
        try:
            facts = await call(
                PassimpayWithdrawalActivities.validate_withdrawal,
                self._request,
                retry_policy=UNTIL_DONE,
            )
        except ActivityError as error:
            self._reason = failure_message(error)
            self._move("reject", self._reason)
            return False
        self._currency = f"{facts.ticker} ({facts.network})"
        self._move("validate", self._currency)
        return True

    # ---- sending -----------------------------------------------------------------------------

    async def _deliver(self) -> None:
        """Send at reserved slots until the provider has the payout, refuses it, or nobody knows."""
        doubtful = self._send_attempts > 0  # an operator's retry after an unknown outcome
        while self._status in SENDABLE:
            if doubtful:
                answered, found = await self._lookup()
                if not answered:
                    self._doubt(
                        f"/v2/withdrawstatus gave no answer in {MAX_AMBIGUOUS_ROUNDS} rounds"
                    )
                    return
                if found is not None:
                    self._found(found)
                    return
                self._note("not_found", "/v2/withdrawstatus does not know the orderId")
                if self._ambiguous_rounds >= MAX_AMBIGUOUS_ROUNDS:
                    self._doubt(
                        f"{self._ambiguous_rounds} sends without a definite outcome; "
                        "the provider does not know the orderId"
                    )
                    return
            doubtful = await self._send_once()

    async def _send_once(self) -> bool:
        """Reserve a slot and send inside it; True when nobody knows whether it arrived."""
        slot: WithdrawSlot = await call(
            PassimpayWithdrawalActivities.reserve_withdraw_slot,
            self._request.order_id,
            retry_policy=UNTIL_DONE,
        )
        ahead = slot.not_before - workflow.now().timestamp() - SCHEDULE_AHEAD
        if ahead > 0:
            await workflow.sleep(ahead)
        self._move("dispatch", f"send {self._send_attempts + 1} at {shown(slot.not_before)}")
        wait = max(0.0, slot.not_before - workflow.now().timestamp())
        try:
            outcome = await workflow.execute_activity_method(
                PassimpayWithdrawalActivities.withdraw,
                WithdrawAttempt(request=self._provider_request(), slot=slot),
                start_to_close_timeout=timedelta(seconds=wait + SEND_GRACE),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=ONE_TRY,
            )
        except ActivityError as error:
            return self._after_failed_send(error)
        if not outcome.sent:
            self._slots_missed += 1
            self._note("slot_missed", f"late by {outcome.late_by or 0:.3f} s; nothing sent")
            return False
        self._send_attempts += 1
        result = outcome.result
        self._transaction_id = result.transaction_id if result else None
        self._move("accept", f"transactionId {self._transaction_id}")
        return False

    def _after_failed_send(self, error: ActivityError) -> bool:
        """Classify a failed send; True when the provider may or may not have it."""
        kind, reason = failure_type(error), failure_message(error)
        earlier_doubt = self._send_attempts > 0
        if kind == INVALID_INPUT:
            if earlier_doubt:
                self._doubt(f"refused before sending ({reason}) after an unknown outcome")
            else:
                self._reason = reason
                self._move("reject", f"nothing sent: {reason}")
            return False
        self._send_attempts += 1
        if kind == WITHDRAWAL_EXISTS:
            self._move("accept", f"the provider already has this orderId: {reason}")
            return False
        if kind == REFUSED and not earlier_doubt:
            self._reason = f"/v2/withdraw refused: {reason}"
            self._move("fail", self._reason)
            return False
        if kind == REFUSED:
            self._doubt(f"refused ({reason}) after an earlier send whose outcome is unknown")
            return False
        self._ambiguous_rounds += 1
        self._note("ambiguous", f"send {self._send_attempts}: {reason}")
        return True

    async def _lookup(self) -> tuple[bool, WithdrawStatus | None]:
        """Ask `/v2/withdrawstatus` after a doubt, backing off while the status API fails."""
        backoff = 1.0
        while True:
            try:
                return True, await self._check_status()
            except ActivityError as error:
                self._ambiguous_rounds += 1
                self._note("status_unavailable", failure_message(error))
                if self._ambiguous_rounds >= MAX_AMBIGUOUS_ROUNDS:
                    return False, None
                await workflow.sleep(backoff)
                backoff = min(backoff * 2, MAX_STATUS_BACKOFF)

    # ---- following ---------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Poll `/v2/withdrawstatus` on a timer, and at once after a callback, until it ends."""
        while self._status == S.PENDING:
            await self._wakeup.sleep()
            try:
                status = await self._check_status()
            except ActivityError as error:
                workflow.logger.warning("withdraw status failed: %s", failure_message(error))
                continue
            if status is not None:
                self._apply(status)

    async def _await_operator(self) -> None:
        """Wait for an operator's decision; meanwhile the status API may still find the payout."""
        while self._status == S.OUTCOME_UNKNOWN:
            await self._wakeup.sleep(self._request.timing.idle_poll_seconds)
            if self._status != S.OUTCOME_UNKNOWN:
                return
            try:
                status = await self._check_status()
            except ActivityError:
                continue
            if status is not None:
                self._found(status)

    async def _check_status(self) -> WithdrawStatus | None:
        """The provider's truth by our orderId; None while it does not know the payout."""
        status = await call(PassimpayActivities.withdraw_status, self._request.order_id)
        self._status_checks += 1
        self._last_checked_at = workflow.now()
        if status is not None:
            self._provider = status
            self._transaction_id = status.transaction_id or self._transaction_id
        return status

    def _found(self, status: WithdrawStatus) -> None:
        """The provider has a payout under our orderId: follow it if it is ours."""
        mismatch = self._request.differs_from(status.payment_id, status.address_to, status.amount)
        if mismatch is not None:
            if self._status != S.OUTCOME_UNKNOWN:
                self._doubt(f"the orderId holds a different payout: {mismatch}")
            return
        self._move("accept", f"found by /v2/withdrawstatus (approve {status.approve})")
        self._apply(status)

    def _apply(self, status: WithdrawStatus) -> None:
        """Move on what `/v2/withdrawstatus` says: approve 1 paid, 2 failed, 0 still pending."""
        if self._status != S.PENDING:
            return
        mismatch = self._request.differs_from(status.payment_id, status.address_to, status.amount)
        if mismatch is not None:
            self._doubt(f"the orderId holds a different payout: {mismatch}")
        elif status.approve == 1:
            self._move("settle", f"txhash {status.txhash}")
        elif status.approve == 2:
            self._reason = status.reason or status.message or "the provider reports it failed"
            self._move("fail", self._reason)

    async def _keep_for_late_callbacks(self) -> None:
        """Stay open a while so the provider's late callbacks land here, not in the inbox."""
        end = workflow.now() + timedelta(seconds=self._request.late_callback_window_seconds)
        while (remaining := (end - workflow.now()).total_seconds()) > 0:
            await self._wakeup.sleep(remaining)

    # ---- bookkeeping -------------------------------------------------------------------------

    @property
    def _status(self) -> WithdrawalStatus:
        return WithdrawalStatus(self._lifecycle.state)

    def _provider_request(self) -> WithdrawRequest:
        request = self._request
        return WithdrawRequest(
            payment_id=request.payment_id,
            address_to=request.address_to,
            amount=request.amount,
            order_id=request.order_id,
        )

    def _move(self, event: str, note: str | None = None) -> None:
        if self._lifecycle.offer(event, workflow.now(), note):
            self._publish()

    def _note(self, event: str, note: str) -> None:
        """Journal something that is not a move (an ambiguous send, a missed slot)."""
        self._lifecycle.offer(event, workflow.now(), note)

    def _doubt(self, reason: str) -> None:
        self._attention_reason = reason
        self._move("doubt", reason)

    def _publish(self) -> None:
        publish_status(self._status, needs_attention=self._needs_attention)

    @property
    def _needs_attention(self) -> bool:
        return self._status == S.OUTCOME_UNKNOWN or self._contradiction is not None

    # ---- messages ----------------------------------------------------------------------------

    @workflow.update
    async def submit(self, request: WithdrawalRequest) -> WithdrawalView:
        """Answer the caller once the payout is validated or rejected; it then goes on its own."""
        await workflow.wait_condition(lambda: self._status != S.CREATED)
        return self.state()

    @submit.validator
    def _validate_submit(self, request: WithdrawalRequest) -> None:
        if self._request.differs_from(request.payment_id, request.address_to, request.amount):
            mine = self._request
            raise ValueError(
                f"order {mine.order_id} already has a withdrawal of {mine.amount} "
                f"(paymentId {mine.payment_id}) to {mine.address_to}"
            )

    @workflow.update
    def resolve(self, resolution: WithdrawalResolution) -> WithdrawalView:
        """An operator's decision on an unknown outcome: paid, failed, or send again."""
        self._resolution = resolution
        note = f"operator: {resolution.note}"
        if resolution.decision == "paid":
            self._move("settle", note)
        elif resolution.decision == "failed":
            self._reason = note
            self._move("fail", note)
        else:
            self._ambiguous_rounds = 0
            self._move("retry", note)
        self._wakeup.nudge()
        return self.state()

    @resolve.validator
    def _validate_resolve(self, resolution: WithdrawalResolution) -> None:
        if self._status != S.OUTCOME_UNKNOWN:
            raise ValueError(f"nothing to resolve: the withdrawal is {self._status.value}")

    @workflow.signal
    def withdraw_callback(self, callback: WithdrawCallback) -> None:
        """A verified withdraw callback: a hint to ask the status API now, never the truth."""
        record = WithdrawCallbackRecord(
            received_at=workflow.now(),
            approve=callback.approve,
            transaction_id=callback.transaction_id,
            txhash=callback.txhash,
            late=self._lifecycle.is_final,
        )
        seen = (record.approve, record.transaction_id, record.txhash)
        if any((r.approve, r.transaction_id, r.txhash) == seen for r in self._callbacks):
            return
        self._callbacks.append(record)
        del self._callbacks[:-CALLBACK_LIMIT]
        agrees = {S.PAID: 1, S.FAILED: 2}.get(self._status)
        if record.late and agrees is not None and record.approve not in (0, agrees):
            self._contradiction = (
                f"a late callback says approve {record.approve} but the payout is {self._status}"
            )
            self._publish()
        self._wakeup.hint()

    @workflow.query
    def state(self) -> WithdrawalView:
        """The whole payout as operators and the API see it."""
        status = self._provider
        return WithdrawalView(
            order_id=self._request.order_id,
            status=self._status.value,
            request=self._request,
            currency=self._currency,
            transaction_id=self._transaction_id,
            provider_approve=status.approve if status else None,
            txhash=status.txhash if status else None,
            confirmations=status.confirmations if status else None,
            amount_debited=status.amount_debited if status else None,
            fee_network=status.fee_network if status else None,
            fee_service=status.fee_service if status else None,
            reason=self._reason,
            send_attempts=self._send_attempts,
            slots_missed=self._slots_missed,
            ambiguous_rounds=self._ambiguous_rounds,
            status_checks=self._status_checks,
            last_checked_at=self._last_checked_at,
            needs_attention=self._needs_attention,
            attention_reason=self._contradiction or self._attention_reason,
            resolution=self._resolution,
            callbacks=list(self._callbacks),
            journal=list(self._lifecycle.journal),
        )
