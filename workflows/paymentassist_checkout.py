"""One Payment Assist checkout per order: begin, follow the customer, confirm, capture, invoice.

`PaymentAssistCheckoutV3` is the type every checkout starts as. What every generation shares
lives in `paymentassist_checkout_base.py` (state, `/status` reads, hints, bookkeeping) and
`paymentassist_checkout_messages.py` (signals, updates, query); the retired generations,
registered only while runs of them may be open, in `paymentassist_checkout_v1.py` and `_v2.py`.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.paymentassist import (
        NOT_SENT,
        ApplicationUpdate,
        ClaimedStatus,
        InvoiceUpload,
        PaymentAssistActivities,
    )
    from providers.paymentassist.models import ApplicationStatus, PreapprovalRequest
    from state.checkout import CheckoutStatus
    from state.checkout_health import attention_poll_delay
    from state.checkout_models import (
        CheckoutRequest,
        CheckoutState,
        CheckoutView,
        InvoiceReference,
        TokenClaim,
    )
    from workflows.calls import (
        ONE_TRY,
        STATUS_RETRY,
        call,
        failure_message,
        failure_type,
        history_is_long,
        read,
    )
    from workflows.paymentassist_checkout_base import ENDED
    from workflows.paymentassist_checkout_messages import CheckoutMessages

WORKFLOW_ID_PREFIX = "paymentassist-checkout:"
CAPTURE_NOT_SENT_ATTEMPTS = 8
KEEP_READING = "keep-reading-while-an-operator-is-needed"
"""Patch, taken when a checkout that holds a token needs an operator: it keeps reading
`/status` and resumes by itself once the lender answers with nothing to decide (runs from
before only waited for the operator). Retire once no checkout started before it can still be
open (its expiry, invoice watch and retention past)."""


def checkout_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's checkout: one checkout per order, ever."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


@workflow.defn(name="PaymentAssistCheckoutV3")
class PaymentAssistCheckoutV3(CheckoutMessages):
    """Carries one order from `/begin` to a confirmed, captured and invoiced end: recorded in
    the ledger from its start, a quiet change (to `awaiting_customer`) written with the next
    write or after one wait, and the token's claim read in the same local activity as the
    `/status` that completes the checkout."""

    @workflow.init
    def __init__(self, request: CheckoutRequest, carried: CheckoutState | None = None) -> None:
        super().__init__(request, carried)
        self._claimed: ClaimedStatus | None = None
        """The last `/status` read, with the token's claim when it said completed."""

    @workflow.run
    async def run(
        self, request: CheckoutRequest, carried: CheckoutState | None = None
    ) -> CheckoutView:
        self._notifier.resume()
        self._recorder.resume(self._request.order_id)
        await self._flow(carried)
        await self._notifier.drained()
        await self._recorder.closed(
            self._request.order_id, self._status.value, self._s.needs_attention
        )
        return self.state()

    async def _flow(self, carried: CheckoutState | None) -> CheckoutView:
        if carried is not None:  # a fresh run of a long wait: pick up where the last one was
            if self._status == CheckoutStatus.COMPLETED:
                await self._after_completion()
                return self.state()
            await self._follow_application()
            if self._status == CheckoutStatus.COMPLETED:
                await self._after_completion()
            return self.state()
        self._name_in_visibility()
        if self._request.preapproval and not await self._preapproved():
            return self.state()
        if self._s.cancel_wanted:
            self._move("cancel", "cancelled before the application was created")
            return self.state()
        if not await self._begin() and not await self._await_operator():
            return self.state()
        await self._follow_application()
        if self._status == CheckoutStatus.COMPLETED:
            await self._after_completion()
        return self.state()

    def _name_in_visibility(self) -> None:
        """At a fresh checkout's first task: the starter's search attributes already name it,
        so its status shows in search attributes alone (no memo)."""
        self._s.status_in_memo = False

    async def _preapproved(self) -> bool:
        """Pre-approval; a declined customer is never retried and never sent to `/begin`."""
        applicant = PreapprovalRequest.model_validate(self._request.customer, from_attributes=True)
        try:
            approved = await call(PaymentAssistActivities.preapproval, applicant)
        except ActivityError as error:
            self._s.failure_reason = (
                f"pre-approval could not be completed: {failure_message(error)}"
            )
            self._move("fail", self._s.failure_reason)
            return False
        self._move("preapprove" if approved else "decline")
        return approved

    async def _begin(self) -> bool:
        """Create the application; resent only when it never left, else needs attention."""
        try:
            result = await self._until_sent(
                PaymentAssistActivities.begin,
                self._request.begin_request(),
                give_up=lambda: self._s.cancel_wanted,
                on_attempt=self._count_begin,
            )
        except ActivityError as error:
            kind, message = failure_type(error), failure_message(error)
            if kind == REFUSED:
                self._s.failure_reason = f"/begin refused: {message}"
                self._move("fail", self._s.failure_reason)
            elif kind == NOT_SENT:  # given up on a cancellation: nothing reached the lender
                self._move("cancel", "cancelled while the lender was unreachable")
            else:
                self._s.attention_reason = (
                    f"/begin outcome unknown ({message}): the lender may hold an application "
                    f"for order {self._request.order_id} whose token we never received"
                )
                self._move("flag", self._s.attention_reason)
            return False
        self._s.token, self._s.url = result.token, result.url
        if result.claimed:  # False in results recorded before claims started with /begin
            self._s.claimed_token = result.token
        self._move("begin")
        await self._took_token(result.token)
        return True

    async def _took_token(self, token: str) -> None:
        """`/begin` answered with `token`: it is not claimed now; a `/status` that would
        complete the order checks its claim first (`_claimed_elsewhere`)."""

    def _count_begin(self, attempt: int) -> None:
        self._s.begin_attempts = attempt

    async def _await_operator(self) -> bool:
        """In needs attention, wait for an operator to attach a confirmed token or close it;
        with a token, keep reading `/status` meanwhile and resume once it answers cleanly."""
        if self._status != CheckoutStatus.NEEDS_ATTENTION:
            return False
        self._reading = self._s.token is not None and workflow.patched(KEEP_READING)
        try:
            while self._status == CheckoutStatus.NEEDS_ATTENTION:
                await self._continue_as_new_if_long()
                if not self._reading:
                    await workflow.wait_condition(
                        lambda: self._status != CheckoutStatus.NEEDS_ATTENTION or history_is_long()
                    )
                    continue
                await self._attention_pause()
                if self._status == CheckoutStatus.NEEDS_ATTENTION and not self._resolving:
                    await self._check_status()
        finally:
            self._reading = False
        return self._status not in ENDED  # attached or resumed (it may even have completed)

    async def _attention_pause(self) -> None:
        """Until the next `/status` read of a checkout that needs an operator: backing off
        while reads fail (at most the idle poll), sooner on a hint, never past a resolution."""
        self._recorder.before_wait()
        timing = self._request.timing
        delay = attention_poll_delay(
            self._s.health.failures, timing.active_poll_seconds, timing.idle_poll_seconds
        )
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self._s.check_due
                    or self._status != CheckoutStatus.NEEDS_ATTENTION
                    or history_is_long()
                ),
                timeout=delay,
                timeout_summary="next /status read while an operator is needed",
            )
        self._s.check_due = False
        self._s.check_at = None

    async def _follow_application(self) -> None:
        """Wait for returns, webhooks or the poll timer; act only on what `/status` says.

        The first check waits for a hint or the poll timer: a fresh application is pending, and
        an attached one was just confirmed by `/status`.
        """
        check = False
        while True:
            if check:
                await self._check_status()
            check = True
            if self._status == CheckoutStatus.NEEDS_ATTENTION and not await self._await_operator():
                return
            if self._status in ENDED or self._status == CheckoutStatus.COMPLETED:
                return
            if self._s.cancel_wanted and not self._s.cancel_sent:
                await self._send_cancel()
                continue
            if self._status == CheckoutStatus.PENDING_CAPTURE and self._s.capture_wanted:
                await self._capture()
                continue
            await self._continue_as_new_if_long()
            await self._sleep()

    async def _capture(self) -> None:
        """Send `/capture` once (resent only if it never left); `/status` decides the outcome."""
        assert self._s.token is not None
        self._s.capture_wanted = False
        self._capturing = True
        try:
            await self._capture_once()
        finally:
            self._capturing = False

    async def _capture_once(self) -> None:
        assert self._s.token is not None
        try:
            result = await self._until_sent(
                PaymentAssistActivities.capture,
                self._s.token,
                max_attempts=CAPTURE_NOT_SENT_ATTEMPTS,
            )
        except ActivityError as error:
            kind, message = failure_type(error), failure_message(error)
            if kind == NOT_SENT:  # nothing happened at the lender: capture again after a poll
                self._s.capture_wanted = True
                await self._continue_as_new_if_long()
                await self._sleep()
            self._s.capture_error = (
                f"capture refused: {message}"
                if kind == REFUSED
                else f"capture not sent: {message}"
                if kind == NOT_SENT
                else f"capture outcome unknown ({message}); /status decides"
            )
        else:
            self._s.capture_error = (
                f"deposit not captured: {result.deposit_reason or 'no reason given'}"
                if result.deposit_captured is False
                else None
            )
        await self._check_status()
        if self._status == CheckoutStatus.COMPLETED:
            self._s.capture_error = None
        self._s.capture_attempts += 1

    async def _send_cancel(self) -> None:
        """Expire the application at the provider (`/update expiry=0`); `/status` confirms."""
        assert self._s.token is not None
        self._s.cancel_sent = True
        try:
            await call(
                PaymentAssistActivities.update, ApplicationUpdate(token=self._s.token, expiry=0)
            )
        except ActivityError as error:
            workflow.logger.warning("cancel refused: %s", failure_message(error))

    async def _after_completion(self) -> None:
        """Rename if asked, then follow `requires_invoice` on every `/status` until the end.

        The lender may ask for an invoice after completion, so `/status` is re-read for
        `invoice_watch_seconds`; a required invoice is uploaded once, and waited for if needed.
        """
        timing, state = self._request.timing, self._s
        if self._request.rename_order_to and not state.renamed:
            await self._rename(self._request.rename_order_to)
        state.renamed = True
        if state.watch_until is None:
            state.watch_until = workflow.now() + timedelta(seconds=timing.invoice_watch_seconds)
        self._show_details()
        while not state.invoice_done():
            outstanding = state.invoice_outstanding()
            if outstanding and state.invoice is not None and state.invoice_error is None:
                await self._upload_invoice()
                continue
            remaining = (state.watch_until - workflow.now()).total_seconds()
            if not outstanding and remaining <= 0:
                break
            await self._continue_as_new_if_long()
            pause = timing.invoice_poll_seconds
            await self._sleep(pause if outstanding else min(pause, remaining))
            await self._check_status()
        if state.invoice_done():
            self._move("upload_invoice")

    async def _upload_invoice(self) -> None:
        """Upload once: a failed or ambiguous try is re-checked with `/status` before another."""
        assert self._s.token is not None and self._s.invoice is not None
        document = self._s.invoice
        upload = InvoiceUpload(token=self._s.token, filetype=document.filetype)
        if isinstance(document, InvoiceReference):
            upload.document = document
        else:  # a run from before documents were stored outside Temporal
            upload.data_base64 = document.data_base64
        try:
            result = await call(PaymentAssistActivities.invoice, upload, retry_policy=ONE_TRY)
        except ActivityError as error:
            self._s.invoice_error = f"invoice upload failed: {failure_message(error)}"
            await self._check_status()
            return
        if result.upload_status == "success":
            self._s.invoice_uploaded = True
            self._s.invoice = None  # the lender has it; no need to carry the bytes
        else:
            self._s.invoice_error = "the lender did not accept the invoice document"

    async def _rename(self, new_order_id: str) -> None:
        assert self._s.token is not None
        try:
            await call(
                PaymentAssistActivities.update,
                ApplicationUpdate(token=self._s.token, order_id=new_order_id),
            )
        except ActivityError as error:
            workflow.logger.warning("rename failed: %s", failure_message(error))
            return
        self._s.renamed_to = new_order_id

    async def _read_status(self, token: str) -> ApplicationStatus:
        """`/status`, with the token's claim read in the same local activity when it says
        completed (one local activity where two were)."""
        self._claimed = await read(
            PaymentAssistActivities.status_with_claim,
            token,
            retry_policy=STATUS_RETRY,
            local=True,
        )
        return self._claimed.status

    async def _claim_of(self, token: str) -> TokenClaim | None:
        claimed = self._claimed
        read_for = claimed.status.token.lower() if claimed is not None else None
        if claimed is not None and claimed.claim_read and read_for == token.lower():
            return claimed.claim
        return await super()._claim_of(token)
