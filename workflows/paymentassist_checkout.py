"""One Payment Assist checkout per order: begin, follow the customer, confirm, capture, invoice."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.paymentassist import (
        NOT_SENT,
        ApplicationUpdate,
        ClaimedStatus,
        InvoiceUpload,
        PaymentAssistActivities,
        TokenHolders,
    )
    from payflow.search_attributes import PAYMENT_TOKEN_DIGEST
    from providers.paymentassist.models import (
        ApplicationStatus,
        AppStatus,
        PreapprovalRequest,
    )
    from state.checkout import CheckoutStatus, quiet_change
    from state.checkout_health import (
        attention_poll_delay,
        hint_retry_delay,
        never_sent,
        not_sent_delay,
    )
    from state.checkout_models import (
        FINAL_EVENTS,
        FINAL_RETURNS,
        TOKEN_DIGEST,
        CheckoutRequest,
        CheckoutStarted,
        CheckoutState,
        CheckoutTerms,
        CheckoutView,
        CustomerReturn,
        HintRecord,
        InvoiceDocument,
        InvoiceReference,
        OperatorResolution,
        TokenClaim,
        WebhookHint,
        amount_problem,
        provider_event,
        token_digest,
    )
    from state.decision import DECISION_REFUSED
    from state.details import current_details
    from workflows.calls import (
        ONE_TRY,
        STATUS_RETRY,
        UNTIL_DONE,
        async_update,
        call,
        failure_message,
        failure_type,
        history_is_long,
        read,
    )
    from workflows.ledger import LedgerRecorder
    from workflows.notifications import Notifier
    from workflows.paymentassist_token_claim import PaymentAssistTokenClaim, claim_workflow_id
    from workflows.proofs import PROOF_PATCH, refusal
    from workflows.terms import refuse_other_terms
    from workflows.visibility import publish_identity, publish_status

Arg = TypeVar("Arg")
Result = TypeVar("Result")

PROVIDER = "paymentassist"
WORKFLOW_ID_PREFIX = "paymentassist-checkout:"
ENDED = frozenset(
    {
        CheckoutStatus.DECLINED,
        CheckoutStatus.FAILED,
        CheckoutStatus.EXPIRED,
        CheckoutStatus.CANCELLED,
        CheckoutStatus.INVOICED,
    }
)
NOT_STARTED = frozenset({CheckoutStatus.CREATED, CheckoutStatus.PREAPPROVED})
UNFINISHED = frozenset(
    {
        CheckoutStatus.AWAITING_CUSTOMER,
        CheckoutStatus.PENDING_CAPTURE,
        CheckoutStatus.NEEDS_ATTENTION,
    }
)
"""Where a `/status` read may still complete or capture the order."""
RESOLUTION_REFUSED = "ResolutionRefused"
HINT_NOT_BOUND = "HintNotBound"
CAPTURE_NOT_SENT_ATTEMPTS = 8
COALESCE_HINTS = "coalesce-hints-after-a-check"
LEAN_VISIBILITY = "lean-visibility"
"""Patch, taken at a run's first task: the starter's search attributes name the checkout (no
upsert of its own), the memo is written only when the token's digest changes (the status is in
search attributes alone), and `/status` reads are local activities without a patch of their
own: two events and two visibility updates fewer per checkout."""

AMOUNT_CHECKED = "amount-checked-before-completion"
"""Patch, taken when a `/status` read would complete or capture an application whose amount
is not the order's (or unreadable): such a read now needs an operator instead. Retire once no
checkout started before it can still be open (its expiry, invoice watch and retention past)."""
KEEP_READING = "keep-reading-while-an-operator-is-needed"
"""Patch, taken when a checkout that holds a token needs an operator: it keeps reading
`/status` and resumes by itself once the lender answers with nothing to decide (runs from
before only waited for the operator). Retire like AMOUNT_CHECKED."""
HINT_RETRIES = "hint-checks-retried-with-backoff"
"""Patch, taken when the `/status` check a return or webhook asked for failed: it is retried
after 1 s, 2 s, 4 s ... instead of at the next poll. Retire like AMOUNT_CHECKED."""
HELD_HINTS_LIMIT = 20
"""Returns and webhooks held at most while `/begin` has not answered (an outsider cannot grow
the history without bound)."""
RECOVERED = "the lender answers /status again with nothing for an operator to decide"


BEGIN_UPDATE = "Answer the starter with the token and continuation URL once `/begin` has run"


def checkout_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's checkout: one checkout per order, ever."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


@workflow.defn
class PaymentAssistCheckout:
    """Carries one order from `/begin` to a confirmed, captured and invoiced end."""

    CURRENT: ClassVar[bool] = False
    """Every patch taken without a marker, the token digest in search attributes, a `/begin`
    token not claimed (`PaymentAssistCheckoutV2`); False replays runs of this type as recorded."""

    @workflow.init
    def __init__(self, request: CheckoutRequest, carried: CheckoutState | None = None) -> None:
        # runs started with fewer arguments than `run` takes get them undecoded (the SDK types
        # only full argument lists): a request alone, or a continued V2 run's two
        request = CheckoutRequest.model_validate(request)
        if carried is not None:
            carried = CheckoutState.model_validate(carried)
        self._s = carried or CheckoutState.start(request, workflow.now())
        self._request = self._s.request
        self._resolving = False
        self._ending_run = False
        self._capturing = False
        self._checks_started = 0
        self._checks_ended = 0
        """`/status` checks of this run so far: a return waits for one that started after it."""
        self._reading = False
        """Reading `/status` while an operator is needed: a clean answer resumes the checkout."""
        self._held_hints = 0
        """Returns and webhooks waiting for `/begin`'s token."""
        self._lean = self.CURRENT
        self._memo_digest = token_digest(carried.token) if carried and carried.token else None
        """The digest the memo (search attributes, in the current type) shows; a fresh run
        inherits its predecessor's."""
        self._notifier = Notifier(self._s.notifications, provider=PROVIDER, flow="checkout")
        self._recorder = LedgerRecorder(
            self._s.recorded, kind="checkout", provider=PROVIDER, view=self.state
        )

    # ---- the flow -------------------------------------------------------------------------

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
        self._lean = self.CURRENT or workflow.patched(LEAN_VISIBILITY)
        if self._lean:  # the starter's search attributes already name the checkout
            self._s.status_in_memo = False
        else:
            publish_identity(PROVIDER, self._request.order_id, self._status)
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

    async def _continue_as_new_if_long(self) -> None:
        """Start a fresh run carrying the state once the history is long; waiting updates are
        answered with the state so far, the requests they made are carried."""
        if not history_is_long():
            return
        self._ending_run = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._s.runs += 1
        workflow.continue_as_new(args=[self._request, self._s])

    async def _sleep(self, seconds: float | None = None) -> None:
        """Until a hint or request makes a check due, `seconds` pass (default: the poll
        interval), or the history is long enough to continue as new."""
        self._recorder.before_wait()
        if seconds is None:
            idle = (workflow.now() - self._s.last_activity_at).total_seconds()
            seconds = self._request.timing.interval(idle)
            failures = self._s.hint_failures
            if failures and self._s.hint_unconfirmed and workflow.patched(HINT_RETRIES):
                seconds = hint_retry_delay(failures, seconds)
        until = workflow.now() + timedelta(seconds=seconds)
        while not (self._s.check_due or history_is_long()):
            deferred = self._s.check_at
            wake = until if deferred is None else min(until, deferred)
            remaining = (wake - workflow.now()).total_seconds()
            if remaining <= 0:
                break
            try:
                await workflow.wait_condition(
                    self._woken(deferred), timeout=remaining, timeout_summary="next /status check"
                )
            except TimeoutError:
                break
        self._s.check_due = False
        self._s.check_at = None

    def _woken(self, deferred: datetime | None) -> Callable[[], bool]:
        """A check is due now, the run must end, or a hint set (or moved) a deferred check."""
        return lambda: self._s.check_due or history_is_long() or self._s.check_at != deferred

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
        if not self.CURRENT:  # the current type holds a `/begin` token unclaimed, checked later
            await self._claim(result.token)
        return True

    async def _until_sent(
        self,
        method: Callable[[Any, Arg], Awaitable[Result]],
        arg: Arg,
        *,
        max_attempts: int | None = None,
        give_up: Callable[[], bool] = lambda: False,
        on_attempt: Callable[[int], None] = lambda _: None,
    ) -> Result:
        """Run a must-not-repeat call once per attempt; resend only what never left."""
        attempt = 0
        while True:
            attempt += 1
            on_attempt(attempt)
            started = workflow.now()
            try:
                result = await call(method, arg, retry_policy=ONE_TRY)
            except ActivityError as error:
                cause = error.cause
                timed_out = isinstance(cause, ActivityTimeout) and cause.type in (
                    TimeoutType.START_TO_CLOSE,
                    TimeoutType.SCHEDULE_TO_CLOSE,
                )
                marks = cause.last_heartbeat_details if isinstance(cause, ActivityTimeout) else ()
                if not never_sent(failure_type(error), timed_out, marks):
                    raise
                self._call_failed(started, f"not sent: {failure_message(error)}")
                if give_up() or (max_attempts is not None and attempt >= max_attempts):
                    raise
                await workflow.sleep(self._resend_delay(attempt))
                continue
            self._call_succeeded()
            return result

    def _resend_delay(self, attempt: int) -> float:
        """Backoff; once an operator has been alerted, no faster than the idle poll (keeps a
        long outage's history small)."""
        delay = not_sent_delay(attempt)
        if self._needs_attention():
            delay = max(delay, self._request.timing.idle_poll_seconds)
        return delay

    def _count_begin(self, attempt: int) -> None:
        self._s.begin_attempts = attempt

    async def _claim(self, token: str) -> str | None:
        """Hold the token for this checkout; the reason when another checkout already holds it."""
        if self._s.claimed_token == token:
            return None
        try:
            await workflow.start_child_workflow(
                PaymentAssistTokenClaim.run,
                TokenClaim(token=token, order_id=self._request.order_id),
                id=claim_workflow_id(token),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            return f"token {token} is already held by another checkout ({claim_workflow_id(token)})"
        self._s.claimed_token = token
        return None

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

    async def _confirm_token(self, token: str) -> ApplicationStatus:
        """The operator's token checked with `/status` and claimed, or ResolutionRefused."""

        def refuse(reason: str) -> ApplicationError:
            return ApplicationError(
                f"token not attached: {reason}", reason, type=RESOLUTION_REFUSED
            )

        try:
            status = await read(
                PaymentAssistActivities.status,
                token,
                retry_policy=STATUS_RETRY,
                local=self._lean,
            )
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
        if self.CURRENT:  # `/begin` tokens are not claimed: another checkout may show it
            others = await call(
                PaymentAssistActivities.token_holders,
                TokenHolders(digest=token_digest(token), exclude=workflow.info().workflow_id),
            )
            if others:
                raise refuse(f"token {token} is already shown by another checkout ({others[0]})")
        held = await self._claim(token)
        if held is not None:
            raise refuse(held)
        return status

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

    async def _check_status(self) -> bool:
        """Ask `/status` and move the lifecycle to match; False when the call failed."""
        self._checks_started += 1
        try:
            return await self._check_status_once()
        finally:
            self._checks_ended += 1

    async def _check_status_once(self) -> bool:
        assert self._s.token is not None
        started = workflow.now()
        try:
            status = await self._read_status(self._s.token)
        except ActivityError as error:
            if failure_type(error) == REFUSED:
                self._s.attention_reason = (
                    f"/status refused for our token: {failure_message(error)}"
                )
                self._move("flag", self._s.attention_reason)
            self._s.check_answered(False)
            self._call_failed(started, f"/status: {failure_message(error)}")
            workflow.logger.warning("status check failed: %s", failure_message(error))
            return False
        self._s.check_answered(True)
        self._call_succeeded()
        self._s.status_checks += 1
        self._s.last_checked_at = workflow.now()
        if await self._claimed_elsewhere(status):
            return True
        self._apply(status)
        return True

    async def _read_status(self, token: str) -> ApplicationStatus:
        """One `/status` read (a local activity unless the run predates them)."""
        return await read(
            PaymentAssistActivities.status, token, retry_policy=STATUS_RETRY, local=self._lean
        )

    async def _claim_of(self, token: str) -> TokenClaim | None:
        """Who claims the token, asked of Temporal (not the lender): retried until it answers."""
        return await read(
            PaymentAssistActivities.token_holder, token, retry_policy=UNTIL_DONE, local=True
        )

    async def _claimed_elsewhere(self, status: ApplicationStatus) -> bool:
        """Before an unclaimed `/begin` token completes this order, make sure no operator
        attached it to another order (its claim): if one did, an operator decides instead."""
        token = self._s.token
        event = provider_event(status.status.value, cancel_sent=self._s.cancel_sent)
        if not self.CURRENT or event != "complete" or token is None:
            return False
        if self._s.claimed_token == token:
            return False
        try:
            holder = await self._claim_of(token)
        except ActivityError as error:
            self._call_failed(workflow.now(), f"token claim check: {failure_message(error)}")
            return True  # not completed yet: the next check asks again
        if holder is None or holder.order_id == self._request.order_id:
            return False
        self._s.attention_reason = (
            f"the lender completed token {token}, but order {holder.order_id} holds its claim "
            f"({claim_workflow_id(token)}): an operator attached it there"
        )
        self._move("flag", self._s.attention_reason)
        return True

    def _apply(self, status: ApplicationStatus) -> None:
        """Keep what `/status` says and move the lifecycle to match; an amount that is not the
        order's holds the checkout for an operator, a clean answer ends a wait for one."""
        state = self._s
        state.provider_status, state.pa_ref = status.status.value, status.pa_ref
        state.requires_invoice, state.has_invoice = status.requires_invoice, status.has_invoice
        state.lender_amount = status.amount
        event = provider_event(status.status.value, cancel_sent=state.cancel_sent)
        problem = amount_problem(event, status.amount, self._request.amount)
        if problem is not None and self._status in UNFINISHED and workflow.patched(AMOUNT_CHECKED):
            state.attention_reason = problem
            self._move("flag", problem)
            return
        if self._status == CheckoutStatus.NEEDS_ATTENTION and self._reading:
            state.attention_reason = None
            self._move("recover", RECOVERED)
        if event == "fail":
            state.failure_reason = state.failure_reason or "the lender declined the application"
        if event is not None:
            self._move(event)

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

    # ---- lifecycle bookkeeping ------------------------------------------------------------

    @property
    def _status(self) -> CheckoutStatus:
        return CheckoutStatus(self._s.lifecycle.state)

    def _move(self, event: str, note: str | None = None) -> None:
        if self._s.move(event, workflow.now(), note):
            self._publish(force=True)

    def _needs_attention(self) -> bool:
        timing = self._request.timing
        return self._status == CheckoutStatus.NEEDS_ATTENTION or self._s.health.overdue(
            workflow.now(), timing.attention_after_seconds
        )

    def _publish(self, *, force: bool = False) -> None:
        """Mirror status and attention into search attributes when either changed."""
        flagged = self._needs_attention()
        self._notifier.changed(self._request.order_id, self._status.value, flagged)
        self._recorder.changed(
            self._request.order_id,
            self._status.value,
            flagged,
            at_once=not quiet_change(self._status, flagged),
        )
        self._show_details()
        if force or flagged != self._s.needs_attention:
            self._s.needs_attention = flagged
            token = self._s.token
            digest = token_digest(token) if token else None
            if self.CURRENT:  # the digest rides in the status upsert; no memo at all
                shown = []
                if digest is not None and digest != self._memo_digest:
                    shown = [PAYMENT_TOKEN_DIGEST.value_set(digest)]
                self._memo_digest = digest
                publish_status(
                    self._status, needs_attention=flagged, status_in_memo=False, attributes=shown
                )
                return
            if self._s.status_in_memo:
                details = {TOKEN_DIGEST: digest} if digest else None
                publish_status(self._status, needs_attention=flagged, details=details)
                return
            details = None
            if digest is not None and digest != self._memo_digest:
                details = {TOKEN_DIGEST: digest}
            self._memo_digest = digest
            publish_status(
                self._status, needs_attention=flagged, details=details, status_in_memo=False
            )

    def _show_details(self) -> None:
        """Refresh the Temporal UI's current details (a query answer: no history event)."""
        reasons = [r for r in (self._s.attention_reason, self._failing()) if r]
        waiting = None
        if self._status == CheckoutStatus.AWAITING_CUSTOMER:
            waiting = "the customer, on the lender's page (returns and webhooks wake it)"
        elif self._status == CheckoutStatus.COMPLETED and self._s.watch_until is not None:
            waiting = (
                f"the lender's invoice request, until {self._s.watch_until:%Y-%m-%d %H:%M} UTC"
            )
        workflow.set_current_details(current_details(self._status.value, reasons, waiting))

    def _failing(self) -> str | None:
        """Calls failing past the attention bound, in words."""
        overdue = self._s.health.overdue(
            workflow.now(), self._request.timing.attention_after_seconds
        )
        return self._s.health.describe() if overdue else None

    def _call_failed(self, started: datetime, error: str) -> None:
        self._s.health.failed(started, error)
        self._publish()

    def _call_succeeded(self) -> None:
        self._s.health.succeeded()
        self._publish()

    def _hint(
        self, kind: Literal["return", "webhook"], token: str, detail: str, *, final: bool
    ) -> None:
        """Another checkout's hint leaves no trace; one while a check is due, or soon after a
        check, is counted or waits for the next check (histories from before checked at once)."""
        effect = self._s.hint_effect(token)
        coalesced = self._s.coalesced(effect, final=final, now=workflow.now())
        if coalesced != effect and (self.CURRENT or workflow.patched(COALESCE_HINTS)):
            effect = coalesced
        record = HintRecord(at=workflow.now(), kind=kind, detail=detail)
        if effect == "ignore":
            workflow.logger.info("ignored a %s hint for another token", kind)
        elif effect == "count":
            self._s.hints_coalesced += 1
        elif effect == "defer":
            self._s.defer_check(record)
        else:
            self._s.record_hint(record)

    def _nudge(self) -> None:
        """A merchant's request to act on now; keeps the polling pace."""
        self._s.check_due = True

    # ---- messages ---------------------------------------------------------------------------

    @async_update(BEGIN_UPDATE)
    async def begin(self, request: CheckoutRequest) -> CheckoutStarted:
        """Answer the starter with the token and continuation URL once `/begin` has run."""
        return await self._started()

    @begin.validator
    def _validate_begin(self, request: CheckoutRequest) -> None:
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

    @workflow.query(description="The whole checkout as operators and the API see it")
    def state(self) -> CheckoutView:
        """The whole checkout as operators and the API see it."""
        return self._s.view()


@workflow.defn(name="PaymentAssistCheckoutV2")
class PaymentAssistCheckoutV2(PaymentAssistCheckout):
    """The type every checkout starts as now: no patch markers, no memo, lazy token claims."""

    CURRENT: ClassVar[bool] = True

    @workflow.init
    def __init__(
        self, request: CheckoutRequest, carried: CheckoutState | None = None, ledger: bool = False
    ) -> None:
        """`ledger`: started to write to the ledger of record (runs started before it, without
        the argument, never write; nothing in their history says otherwise)."""
        super().__init__(request, carried)
        self._recorder = LedgerRecorder(
            self._s.recorded,
            kind="checkout",
            provider=PROVIDER,
            view=self.state,
            started_on=ledger,
        )
        if not self._s.recorded.on:
            self._recorder.off()

    @workflow.run
    async def run(
        self, request: CheckoutRequest, carried: CheckoutState | None = None, ledger: bool = False
    ) -> CheckoutView:
        return await super().run(request, carried)

    @async_update(BEGIN_UPDATE)
    async def begin(  # type: ignore[override]  # a wider argument; the SDK generic is invariant
        self, request: CheckoutRequest | CheckoutTerms
    ) -> CheckoutStarted:
        """`begin`, sent the terms alone: the request came as the workflow's input, and the
        SDK keeps a run's first activation (both copies of it) for the run's whole life."""
        return await self._started()

    @begin.validator
    def _validate_begin(self, request: CheckoutRequest | CheckoutTerms) -> None:
        refuse_other_terms("a checkout", self._request, request)


@workflow.defn(name="PaymentAssistCheckoutV3")
class PaymentAssistCheckoutV3(PaymentAssistCheckoutV2):
    """The type every checkout starts as now: always recorded in the ledger, a quiet change
    (to `awaiting_customer`) written with the next write or after one wait, and the token's
    claim read in the same local activity as the `/status` that completes the checkout."""

    @workflow.init
    def __init__(self, request: CheckoutRequest, carried: CheckoutState | None = None) -> None:
        PaymentAssistCheckout.__init__(self, request, carried)
        self._recorder = LedgerRecorder(
            self._s.recorded,
            kind="checkout",
            provider=PROVIDER,
            view=self.state,
            started_on=True,
            hold_quiet=True,
        )
        self._claimed: ClaimedStatus | None = None
        """The last `/status` read, with the token's claim when it said completed."""

    @workflow.run
    async def run(  # type: ignore[override]  # V2's third argument is gone
        self, request: CheckoutRequest, carried: CheckoutState | None = None
    ) -> CheckoutView:
        return await PaymentAssistCheckout.run(self, request, carried)

    async def _read_status(self, token: str) -> ApplicationStatus:
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
