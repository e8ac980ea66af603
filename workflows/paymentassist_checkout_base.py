"""What every generation of the Payment Assist checkout shares: its state, how it reads and
applies `/status`, sends what must not repeat, takes hints, waits, and shows itself to operators.

The methods here behave as the current type (`PaymentAssistCheckoutV3`) does; a retired
generation overrides the few that it ran differently (`paymentassist_checkout_v1.py`, `_v2.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.paymentassist import PaymentAssistActivities
    from payflow.search_attributes import PAYMENT_TOKEN_DIGEST
    from providers.paymentassist.models import ApplicationStatus
    from state.checkout import CheckoutStatus, quiet_change
    from state.checkout_health import hint_retry_delay, never_sent, not_sent_delay
    from state.checkout_models import (
        CheckoutRequest,
        CheckoutState,
        CheckoutView,
        HintRecord,
        TokenClaim,
        amount_problem,
        provider_event,
        token_digest,
    )
    from state.details import current_details
    from workflows.calls import (
        ONE_TRY,
        STATUS_RETRY,
        UNTIL_DONE,
        call,
        failure_message,
        failure_type,
        history_is_long,
        read,
    )
    from workflows.ledger import LedgerRecorder
    from workflows.notifications import Notifier
    from workflows.paymentassist_token_claim import PaymentAssistTokenClaim, claim_workflow_id
    from workflows.visibility import publish_status

Arg = TypeVar("Arg")
Result = TypeVar("Result")

PROVIDER = "paymentassist"
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
AMOUNT_CHECKED = "amount-checked-before-completion"
"""Patch, taken when a `/status` read would complete or capture an application whose amount
is not the order's (or unreadable): such a read now needs an operator instead. Retire once no
checkout started before it can still be open (its expiry, invoice watch and retention past)."""
HINT_RETRIES = "hint-checks-retried-with-backoff"
"""Patch, taken when the `/status` check a return or webhook asked for failed: it is retried
after 1 s, 2 s, 4 s ... instead of at the next poll. Retire like AMOUNT_CHECKED."""
RECOVERED = "the lender answers /status again with nothing for an operator to decide"


class CheckoutBase:
    """One checkout's state and the steps every generation takes alike (no workflow type:
    `PaymentAssistCheckoutV3` and the retired generations are built on it)."""

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
        self._memo_digest = token_digest(carried.token) if carried and carried.token else None
        """The digest the search attributes show; a fresh run inherits its predecessor's."""
        self._notifier = Notifier(self._s.notifications, provider=PROVIDER, flow="checkout")
        self._recorder = self._new_recorder()

    def _new_recorder(self) -> LedgerRecorder:
        """The writer to the ledger of record: on from the start, a quiet change (to
        `awaiting_customer`) written with the next write or after one wait."""
        return LedgerRecorder(
            self._s.recorded,
            kind="checkout",
            provider=PROVIDER,
            view=self.state,
            started_on=True,
            hold_quiet=True,
        )

    @workflow.query(description="The whole checkout as operators and the API see it")
    def state(self) -> CheckoutView:
        """The whole checkout as operators and the API see it."""
        return self._s.view()

    # ---- waiting --------------------------------------------------------------------------

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

    # ---- sending what must not repeat -----------------------------------------------------

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

    # ---- reading `/status` ----------------------------------------------------------------

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

    def _local_reads(self) -> bool:
        """Whether `/status` reads are local activities taken without a patch of their own."""
        return True

    async def _status_of(self, token: str) -> ApplicationStatus:
        """One `/status` read, nothing else."""
        return await read(
            PaymentAssistActivities.status,
            token,
            retry_policy=STATUS_RETRY,
            local=self._local_reads(),
        )

    async def _read_status(self, token: str) -> ApplicationStatus:
        """The `/status` read of a check (the current type reads the token's claim with it)."""
        return await self._status_of(token)

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
        if event != "complete" or token is None:
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

    # ---- hints ----------------------------------------------------------------------------

    def _hint(
        self, kind: Literal["return", "webhook"], token: str, detail: str, *, final: bool
    ) -> None:
        """Another checkout's hint leaves no trace; one while a check is due, or soon after a
        check, is counted or waits for the next check."""
        effect = self._s.hint_effect(token)
        coalesced = self._s.coalesced(effect, final=final, now=workflow.now())
        if coalesced != effect and self._coalesces_hints():
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

    def _coalesces_hints(self) -> bool:
        """Whether a hint soon after a check is coalesced with it (asked only when it would be)."""
        return True

    def _nudge(self) -> None:
        """A merchant's request to act on now; keeps the polling pace."""
        self._s.check_due = True

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
        """Tell the merchant and the ledger of a change, and mirror status and attention into
        search attributes when either changed."""
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
            self._show_in_visibility(flagged)

    def _show_in_visibility(self, flagged: bool) -> None:
        """Status and attention in search attributes, the token's digest with them when it
        changed; no memo at all."""
        token = self._s.token
        digest = token_digest(token) if token else None
        shown = []
        if digest is not None and digest != self._memo_digest:
            shown = [PAYMENT_TOKEN_DIGEST.value_set(digest)]
        self._memo_digest = digest
        publish_status(
            self._status, needs_attention=flagged, status_in_memo=False, attributes=shown
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
