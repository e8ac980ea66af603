"""What a Payment Assist checkout answers: the starter's `begin`, customer returns and webhooks
(hints, confirmed with `/status`), the merchant's capture, cancel and invoice, and an operator's
resolution. Names are the workflow's public interface: they never change."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.paymentassist import PaymentAssistActivities, TokenHolders
    from providers.paymentassist.models import ApplicationStatus, AppStatus
    from state.checkout import CheckoutStatus
    from state.checkout_models import (
        FINAL_EVENTS,
        FINAL_RETURNS,
        CheckoutRequest,
        CheckoutStarted,
        CheckoutTerms,
        CheckoutView,
        CustomerReturn,
        InvoiceDocument,
        InvoiceReference,
        OperatorResolution,
        WebhookHint,
        token_digest,
    )
    from state.decision import DECISION_REFUSED
    from workflows.calls import async_update, call, failure_message
    from workflows.paymentassist_checkout_base import ENDED, NOT_STARTED, CheckoutBase
    from workflows.proofs import PROOF_PATCH, refusal
    from workflows.terms import refuse_other_terms

BEGIN_UPDATE = "Answer the starter with the token and continuation URL once `/begin` has run"
RESOLUTION_REFUSED = "ResolutionRefused"
HINT_NOT_BOUND = "HintNotBound"
HELD_HINTS_LIMIT = 20
"""Returns and webhooks held at most while `/begin` has not answered (an outsider cannot grow
the history without bound)."""


class CheckoutMessages(CheckoutBase):
    """The signals, updates and query of every checkout generation (the `state` query is
    `CheckoutBase.state`)."""

    @async_update(BEGIN_UPDATE)
    async def begin(self, request: CheckoutRequest | CheckoutTerms) -> CheckoutStarted:
        """Answer the starter with the token and continuation URL once `/begin` has run; the
        starter sends the terms alone (the request came as the workflow's input, and the SDK
        keeps a run's first activation, both copies of it, for the run's whole life)."""
        return await self._started()

    @begin.validator
    def _validate_begin(self, request: CheckoutRequest | CheckoutTerms) -> None:
        refuse_other_terms("a checkout", self._request, request)

    async def _started(self) -> CheckoutStarted:
        """The token and continuation URL once `/begin` has run; CheckoutNotStarted if not."""
        await workflow.wait_condition(
            lambda: self._s.url is not None or self._status not in NOT_STARTED
        )
        if self._s.token is None or self._s.url is None:
            reason = self._s.failure_reason or self._s.attention_reason or self._status.value
            raise ApplicationError(
                f"checkout {self._request.order_id} did not start: {reason}",
                self._status.value,
                type="CheckoutNotStarted",
            )
        return CheckoutStarted(
            order_id=self._request.order_id,
            token=self._s.token,
            url=self._s.url,
            status=self._status.value,
        )

    @workflow.signal(description="The customer came back through the signed redirect")
    def customer_returned(self, hint: CustomerReturn) -> None:
        """The customer came back through the signed redirect: check `/status` now."""
        self._hint(
            "return", hint.token, f"status={hint.status}", final=hint.status in FINAL_RETURNS
        )

    @async_update(
        "The customer came back through the signed redirect: the status that the next "
        "`/status` check confirms"
    )
    async def return_confirmed(self, hint: CustomerReturn) -> str:
        """The customer came back: check `/status` now and answer what a check that started
        after the return confirms (at once if the checkout no longer awaits the customer)."""
        await self._token_known(hint.token)
        due = self._checks_started + 1
        self.customer_returned(hint)
        await workflow.wait_condition(
            lambda: (
                self._status != CheckoutStatus.AWAITING_CUSTOMER
                or self._checks_ended >= due
                or self._ending_run
            )
        )
        return self._status.value

    @return_confirmed.validator
    def _validate_return(self, hint: CustomerReturn) -> None:
        self._refuse_other_token(hint.token)

    def _refuse_other_token(self, token: str) -> None:
        """Another order's token (a spliced link, a misrouted webhook) is refused before
        anything is recorded; while `/begin` has not answered, a few are held instead."""
        if self._s.token is None and self._begin_may_answer():
            if self._held_hints >= HELD_HINTS_LIMIT:
                raise ApplicationError(
                    "too many hints are waiting for the application's token", type=HINT_NOT_BOUND
                )
            return
        if self._s.token is None or token != self._s.token:
            raise ApplicationError(
                "the token is not this checkout's application", type=HINT_NOT_BOUND
            )

    def _begin_may_answer(self) -> bool:
        """`/begin` has not answered yet, and may still give this checkout its token."""
        return self._status in NOT_STARTED

    async def _token_known(self, token: str) -> None:
        """Hold a hint that came before `/begin`'s token until the token is known; then
        another order's is refused (HintNotBound), and one for a checkout that got no token
        is kept for operators, as a signal's would be."""
        if self._s.token is not None or not self._begin_may_answer():
            return
        self._held_hints += 1
        try:
            await workflow.wait_condition(
                lambda: self._s.token is not None or self._status not in NOT_STARTED
            )
        finally:
            self._held_hints -= 1
        if self._s.token is not None and token != self._s.token:
            raise ApplicationError(
                "the token is not this checkout's application", type=HINT_NOT_BOUND
            )

    @async_update("A signed webhook arrived: check `/status` now")
    async def webhook_taken(self, hint: WebhookHint) -> None:
        """A signed webhook arrived: check `/status` now. As an update it never makes Temporal
        reject the task that completes the checkout, as a signal arriving then would."""
        await self._token_known(hint.token)
        self.webhook_received(hint)

    @webhook_taken.validator
    def _validate_webhook(self, hint: WebhookHint) -> None:
        self._refuse_other_token(hint.token)

    @workflow.signal(description="A signed webhook arrived")
    def webhook_received(self, hint: WebhookHint) -> None:
        """A signed webhook arrived: check `/status` now."""
        self._hint("webhook", hint.token, hint.event_name, final=hint.event_name in FINAL_EVENTS)

    @workflow.signal(description="An operator's reconciliation: check with the provider now")
    def check_now(self) -> None:
        """An operator's reconciliation: ask `/status` at the next chance (a read, nothing sent)."""
        self._nudge()

    @async_update("The merchant asks to capture a `pending_capture` application")
    async def request_capture(self) -> CheckoutView:
        """The merchant asks to capture a `pending_capture` application."""
        attempts = self._s.capture_attempts
        if not self._capturing:  # one on its way answers this request too
            self._s.capture_wanted = True
        self._nudge()
        if self._status == CheckoutStatus.PENDING_CAPTURE:
            await workflow.wait_condition(
                lambda: (
                    self._s.capture_attempts > attempts
                    or self._status != CheckoutStatus.PENDING_CAPTURE
                    or self._ending_run
                )
            )
        return self.state()

    @request_capture.validator
    def _validate_capture(self) -> None:
        if self._status not in (CheckoutStatus.AWAITING_CUSTOMER, CheckoutStatus.PENDING_CAPTURE):
            raise ValueError(f"cannot capture a checkout that is {self._status.value}")

    @async_update("Cancel before completion")
    async def cancel(self) -> CheckoutView:
        """Cancel before completion: the provider expires the application, `/status` confirms."""
        self._s.cancel_wanted = True
        self._nudge()
        await workflow.wait_condition(
            lambda: (
                self._status in ENDED
                or self._status in (CheckoutStatus.COMPLETED, CheckoutStatus.NEEDS_ATTENTION)
                or self._ending_run
            )
        )
        return self.state()

    @cancel.validator
    def _validate_cancel(self) -> None:
        if self._status in ENDED or self._status == CheckoutStatus.COMPLETED:
            raise ValueError(f"cannot cancel a checkout that is {self._status.value}")

    @async_update("Keep the merchant's stored invoice and upload it once the lender requires it")
    async def upload_invoice(self, document: InvoiceReference | InvoiceDocument) -> CheckoutView:
        """Keep the merchant's stored invoice and upload it once the lender requires it.

        Only a reference is accepted now (the bytes stay in `payflow.documents`); a whole
        document is still read from histories recorded before, where it was accepted.
        """
        self._s.invoice = document
        self._s.invoice_error = None
        self._nudge()
        if self._status == CheckoutStatus.COMPLETED and self._s.invoice_outstanding():
            await workflow.wait_condition(
                lambda: (
                    self._s.invoice_uploaded
                    or self._s.invoice_error is not None
                    or self._status != CheckoutStatus.COMPLETED
                    or self._ending_run
                )
            )
        return self.state()

    @upload_invoice.validator
    def _validate_invoice(self, document: InvoiceReference | InvoiceDocument) -> None:
        if not isinstance(document, InvoiceReference):
            raise ValueError("send the invoice as a stored document reference, not its bytes")
        if self._s.invoice_uploaded or self._status == CheckoutStatus.INVOICED:
            raise ValueError("the invoice was already uploaded")
        if self._status in ENDED:
            raise ValueError(f"no invoice for a checkout that is {self._status.value}")

    @async_update(
        "An operator attaches the lost application's token (confirmed with `/status` and claimed for this checkout alone), or closes the checkout"
    )
    async def resolve(self, resolution: OperatorResolution) -> CheckoutView:
        """An operator attaches the lost application's token (confirmed with `/status` and
        claimed for this checkout alone), or closes the checkout. A resolution without a valid
        proof from payflow's API is journalled as refused and never acted on."""
        if workflow.patched(PROOF_PATCH):
            self._resolving = True
            try:
                refused = await refusal(resolution, last=self._s.last_decision_at)
            finally:
                self._resolving = False
            if refused is not None:
                self._s.move(
                    "decision_refused", workflow.now(), f"{resolution.attempted()}: {refused}"
                )
                raise ApplicationError(f"decision refused: {refused}", type=DECISION_REFUSED)
            if self._status != CheckoutStatus.NEEDS_ATTENTION:  # moved on while it was checked
                raise ApplicationError(
                    f"nothing to resolve: the checkout is {self._status.value}",
                    type=DECISION_REFUSED,
                )
            resolution = resolution.unproven()
            self._s.last_decision_at = resolution.decided_at
        if resolution.close_reason:
            self._s.failure_reason = f"closed by {resolution.actor}: {resolution.close_reason}"
            self._move("fail", self._s.failure_reason)
            return self.state()
        assert resolution.token is not None
        self._resolving = True
        try:
            status = await self._confirm_token(resolution.token)
        finally:
            self._resolving = False
        self._s.token = resolution.token
        self._move("attach", f"{resolution.actor} attached the application, confirmed by /status")
        self._apply(status)
        return self.state()

    @resolve.validator
    def _validate_resolution(self, resolution: OperatorResolution) -> None:
        if self._status != CheckoutStatus.NEEDS_ATTENTION:
            raise ValueError(f"nothing to resolve: the checkout is {self._status.value}")
        if self._resolving:
            raise ValueError("another resolution of this checkout is being checked")
        if bool(resolution.token) == bool(resolution.close_reason):
            raise ValueError("give either the application's token or a reason to close")

    async def _confirm_token(self, token: str) -> ApplicationStatus:
        """The operator's token checked with `/status` and claimed, or ResolutionRefused."""

        def refuse(reason: str) -> ApplicationError:
            return ApplicationError(
                f"token not attached: {reason}", reason, type=RESOLUTION_REFUSED
            )

        try:
            status = await self._status_of(token)
        except ActivityError as error:
            raise refuse(f"/status could not confirm it ({failure_message(error)})") from None
        if status.token.lower() != token.lower():
            raise refuse(f"/status answered for another token ({status.token})")
        if status.amount != self._request.amount:
            raise refuse(
                f"the application is for {status.amount} pence, "
                f"this checkout for {self._request.amount} pence"
            )
        if status.status in (AppStatus.FAILED, AppStatus.EXPIRED):
            raise refuse(f"the application is {status.status.value}")
        shown = await self._shown_elsewhere(token)
        if shown is not None:
            raise refuse(shown)
        held = await self._claim(token)
        if held is not None:
            raise refuse(held)
        return status

    async def _shown_elsewhere(self, token: str) -> str | None:
        """`/begin` tokens are not claimed at once: another checkout may show this one (its
        digest in search attributes); then it is not attached here."""
        others = await call(
            PaymentAssistActivities.token_holders,
            TokenHolders(digest=token_digest(token), exclude=workflow.info().workflow_id),
        )
        return (
            f"token {token} is already shown by another checkout ({others[0]})" if others else None
        )
