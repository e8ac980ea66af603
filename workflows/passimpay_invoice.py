"""One Passimpay invoice link per order: create, follow `/v3/orderstatus`, expire, flag late coins.

Only the provider's status moves the invoice: `paid` settles it; money received otherwise is a
partial payment whatever `amountPaid` says, and `amountPaid` is compared with the invoice amount
only when the provider reports it in the invoice's own currency. Callbacks are hints.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.passimpay import PassimpayActivities
    from providers.passimpay.models import CreateOrderRequest
    from state.deposit_ledger import DepositEvent, LedgerEntry, RecordOutcome
    from state.passimpay_invoice import (
        InvoiceStatus,
        LateVerdict,
        judge_late_deposit,
        late_money_grew,
        partial_settled,
        status_event,
        top_up_reached,
    )
    from state.passimpay_models import InvoiceOpened, InvoiceRequest, InvoiceState, OrderReading
    from workflows.calls import (
        STATUS_RETRY,
        async_update,
        call,
        failure_message,
        failure_type,
        history_is_long,
    )
    from workflows.ledger import LedgerRecorder
    from workflows.notifications import Notifier
    from workflows.terms import refuse_other_terms
    from workflows.visibility import Tracked
    from workflows.wakeup import Wakeup

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-invoice:"
NOT_OPEN = frozenset({InvoiceStatus.CREATED})
INVOICE_CONFIRMATIONS = 1  # the provider decides when an invoice is paid; each callback counts once
LOST_URL = "payment_url_lost"
PAYING_LATE_PATCH = "invoice-paying-callback-after-status"
"""Late callbacks judged by `judge_late_deposit`. Retire (`deprecate_patch`) once no invoice
that ended before this deploy is still in its late-deposit window."""
UNCOUNTED_PATCH = "invoice-uncounted-callbacks-at-expiry"
"""Callbacks an expiry does not count are flagged. Retire once no invoice open before this
deploy is still running."""
REPEAT_WAKES_PATCH = "invoice-repeated-callback-checks"
"""A repeated callback asks for a status check. Retire once no invoice open before this deploy
is still running."""
REPEAT_CHECK_GAP_SECONDS = 2.0
"""A repeated callback asks the provider at most this often (a replayed body cannot flood it)."""
EXPIRED = frozenset({InvoiceStatus.EXPIRED_PARTIAL, InvoiceStatus.CREDITED_PARTIAL})


def _grew(before: OrderReading | None, now: OrderReading) -> bool | None:
    """Whether the provider's received amount rose between two readings (None: not comparable)."""
    earlier = (before.amount_paid, before.currency) if before else (None, None)
    return late_money_grew(earlier, (now.amount_paid, now.currency))


def invoice_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's invoice."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


@workflow.defn
class PassimpayInvoice(Tracked[InvoiceState]):
    """Carries one invoice from creation to paid, expired or credited; late coins are flagged."""

    @workflow.init
    def __init__(self, request: InvoiceRequest, carried: InvoiceState | None = None) -> None:
        # runs started with the request alone get it undecoded (the SDK types only full args)
        request = InvoiceRequest.model_validate(request)
        self._s = carried or InvoiceState.start(request, workflow.now())
        self._request = self._s.request
        self._wakeup = Wakeup(self._request.timing, self._s.last_activity_at)
        self._notifier: Notifier = Notifier(
            self._s.notifications, provider=PROVIDER, flow="invoice"
        )
        self._recorder: LedgerRecorder = LedgerRecorder(
            self._s.recorded, kind="invoice", provider=PROVIDER, view=self.state
        )

    @workflow.run
    async def run(
        self, request: InvoiceRequest, carried: InvoiceState | None = None
    ) -> InvoiceState:
        self._notifier.resume()
        self._recorder.resume(self._s.order_id)
        await self._flow(request, carried)
        await self._notifier.drained()
        await self._recorder.closed(self._s.order_id, self._s.status, self._s.needs_attention)
        return self.state()

    async def _flow(self, request: InvoiceRequest, carried: InvoiceState | None) -> InvoiceState:
        self._publish_identity(PROVIDER)
        if carried is None and not await self._create():
            return self.state()
        if not self._s.lifecycle.is_final:
            await self._follow_until_final()
        await self._keep_for_late_deposits()
        return self.state()

    async def _continue_as_new_if_long(self) -> None:
        """Start a fresh run carrying the state once the history is long (handlers finished)."""
        if not history_is_long():
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._s.runs += 1
        self._s.last_activity_at = self._wakeup.last_activity_at
        workflow.continue_as_new(args=[self._request, self._s])

    async def _create(self) -> bool:
        order = CreateOrderRequest.model_validate(self._request, from_attributes=True)
        try:
            link = await call(PassimpayActivities.create_order, order)
        except ActivityError as error:
            refused = failure_type(error) == REFUSED
            failure = (
                f"/v2/createorder {'refused' if refused else 'failed'}: {failure_message(error)}"
            )
            return await self._adopt_if_it_exists(failure)
        self._s.url = link.url
        self._move("open")
        return True

    async def _adopt_if_it_exists(self, failure: str) -> bool:
        """A failed create may still have created the invoice (a lost reply): never leave it
        untracked. If the provider knows the orderId, follow it and ask an operator to look."""
        try:
            await call(PassimpayActivities.order_status, self._request.order_id)
        except ActivityError:
            self._s.failure_reason = failure
            self._move("reject", failure)
            return False
        self._s.failure_reason = f"{failure}; the invoice exists but its payment URL was lost"
        self._s.attention.raise_(LOST_URL, self._s.failure_reason)
        self._move("open", self._s.failure_reason)
        return True

    async def _follow_until_final(self) -> None:
        """Act on `/v3/orderstatus` after every callback, on the poll timer and at expiry."""
        while not self._s.lifecycle.is_final:
            checked = await self._check_status()
            if checked and self._status == InvoiceStatus.EXPIRED_PARTIAL:
                self._apply_partial_policy()
            if self._s.lifecycle.is_final:
                return
            await self._continue_as_new_if_long()
            pause = self._pause(checked)
            until_deadline = (self._s.deadline - workflow.now()).total_seconds()
            if until_deadline > 0:
                pause = min(pause, until_deadline + 1)
            await self._wakeup.sleep(pause)

    def _pause(self, checked: bool) -> float:
        """The poll interval, or a shorter backoff while checks fail."""
        pause = self._wakeup.next_interval()
        return pause if checked else self._s.checks.retry_after(pause)

    def _apply_partial_policy(self) -> None:
        """Credit what arrived now, once topped up (same unit only), or after the top-up window."""
        reading = self._s.provider
        expired_at = self._s.expired_partial_at or workflow.now()
        topped_up = reading is not None and top_up_reached(
            reading.amount_paid,
            reading.currency,
            amount=self._request.amount,
            symbol=self._s.symbol,
        )
        if partial_settled(
            self._request.partial_policy,
            waited_seconds=(workflow.now() - expired_at).total_seconds(),
            top_up_wait_seconds=self._request.top_up_wait_seconds,
            topped_up=topped_up,
        ):
            note = f"policy {self._request.partial_policy}"
            if topped_up and reading is not None:
                note += f"; topped up to {reading.amount_paid} {reading.currency} after expiry"
            self._move("credit_partial", note)

    async def _check_status(self) -> bool:
        """Ask the provider; True when it answered. Failing checks raise attention after a bound."""
        before = self._s.provider
        reading = await self._ask_provider()
        if reading is None:
            return False
        if _grew(before, reading):
            self._s.count_rise()
        event, note = status_event(
            reading.status, reading.amount_paid, callbacks_seen=bool(self._s.ledger.entries)
        )
        if event == "expire" and self._s.lifecycle.can(event):
            self._flag_uncounted()
        if event is not None and self._s.lifecycle.can(event):  # a repeated reading is no event
            self._move(event, f"{note} {reading.currency or ''}".strip())
            if self._status == InvoiceStatus.EXPIRED_PARTIAL and self._s.expired_partial_at is None:
                self._s.expired_partial_at = workflow.now()
        return True

    def _flag_uncounted(self) -> None:
        """Signed callbacks that the provider's expiry does not count contradict it: the invoice
        ends `expired` as the provider says, and each such deposit waits for an operator."""
        if not workflow.patched(UNCOUNTED_PATCH):
            return
        for entry in self._s.ledger.entries.values():
            if not entry.late and not entry.final:
                entry.flag = (
                    f"deposit {entry.amount} (paymentId {entry.payment_id}): a signed callback,"
                    " but the provider reports nothing paid at expiry"
                )
                self._flag(f"uncounted:{entry.key}", entry.flag)

    async def _ask_provider(self) -> OrderReading | None:
        try:
            status = await call(
                PassimpayActivities.order_status,
                self._request.order_id,
                retry_policy=STATUS_RETRY,
            )
        except ActivityError as error:
            message = failure_message(error)
            workflow.logger.warning("order status failed: %s", message)
            self._check_failed(message, self._request.timing.attention_after_seconds)
            return None
        self._check_answered()
        self._s.provider = OrderReading.model_validate(status, from_attributes=True)
        return self._s.provider

    async def _keep_for_late_deposits(self) -> None:
        """Stay a while after the end so coins sent late land in this ledger; each late callback
        is checked with the provider and flagged unless the provider shows no new money and it
        repeats what arrived before (the expiry notice of a partial payment)."""
        if self._s.late_until is None:
            self._s.ended_with = self._s.provider
            window = timedelta(seconds=self._request.late_deposit_window_seconds)
            self._s.late_until = workflow.now() + window
        self._wait_for(
            f"open until {self._s.late_until:%Y-%m-%d %H:%M} UTC so coins sent late are seen"
        )
        while (remaining := (self._s.late_until - workflow.now()).total_seconds()) > 0:
            await self._wakeup.sleep(remaining)
            if self._s.late_keys:
                await self._judge_late_deposits()
            await self._continue_as_new_if_long()

    async def _judge_late_deposits(self) -> None:
        if workflow.patched(PAYING_LATE_PATCH):
            await self._judge_late_callbacks()
            return
        reading = await self._ask_provider()
        keys, self._s.late_keys = self._s.late_keys, []
        grew = None if reading is None else _grew(self._s.ended_with, reading)
        for key in keys:
            entry = self._s.ledger.entries[key]
            if grew is False and self._s.ledger.repeats_earlier(key):
                entry.lifecycle.offer("reject", workflow.now(), "repeats earlier deposits")
            else:
                self._flag_late(entry, unknown=grew is None)
        if reading is not None:
            self._s.ended_with = reading

    async def _judge_late_callbacks(self) -> None:
        """Judge the callbacks that came after the end against a fresh reading; one that lands
        while the read is in flight waits for the next read."""
        keys = list(self._s.late_keys)
        reading = await self._ask_provider()
        self._s.late_keys = [key for key in self._s.late_keys if key not in keys]
        before = self._s.ended_with
        grew = None if reading is None else _grew(before, reading)
        ended_at = (self._s.late_until or workflow.now()) - timedelta(
            seconds=self._request.late_deposit_window_seconds
        )
        for key in keys:
            entry = self._s.ledger.entries[key]
            verdict = judge_late_deposit(
                grew=grew,
                callbacks_owed=self._s.callbacks_owed,
                expired=self._status in EXPIRED,
                repeats_earlier=self._s.ledger.repeats_earlier(key),
                seconds_after_end=(entry.first_seen_at - ended_at).total_seconds(),
                notice_taken=self._s.expiry_notice_taken,
            )
            if verdict == LateVerdict.PAYING:
                self._s.callbacks_owed -= 1
                entry.late = False
                entry.lifecycle.offer(
                    "confirm", workflow.now(), "paying deposit, read before its callback"
                )
            elif verdict == LateVerdict.EXPIRY_NOTICE:
                self._s.expiry_notice_taken = True
                entry.lifecycle.offer(
                    "reject", workflow.now(), "the provider's expiry notice: no new money"
                )
            else:
                self._flag_late(entry, unknown=grew is None)
        if reading is not None:
            self._s.ended_with = reading

    def _flag_late(self, entry: LedgerEntry, *, unknown: bool) -> None:
        reason = f"deposit {entry.amount} (paymentId {entry.payment_id}) after the invoice ended"
        if unknown:
            reason += "; the provider's amountPaid could not be compared"
        entry.flag = reason
        self._flag(f"late:{entry.key}", reason)

    @property
    def _status(self) -> InvoiceStatus:
        return InvoiceStatus(self._s.status)

    # ---- messages ----------------------------------------------------------------------------

    @async_update("Answer the starter with the hosted payment URL once the invoice exists")
    async def open(self, request: InvoiceRequest) -> InvoiceOpened:
        """Answer the starter with the hosted payment URL once the invoice exists."""
        await workflow.wait_condition(
            lambda: self._s.url is not None or self._status not in NOT_OPEN
        )
        if self._s.url is None:
            raise ApplicationError(
                f"invoice {self._request.order_id} has no payment URL: {self._s.failure_reason}",
                type="InvoiceNotCreated",
            )
        return InvoiceOpened(order_id=self._request.order_id, url=self._s.url, status=self._status)

    @open.validator
    def _validate_open(self, request: InvoiceRequest) -> None:
        refuse_other_terms("an invoice", self._request, request)

    @workflow.signal(description="A verified deposit callback")
    def deposit(self, event: DepositEvent) -> None:
        """A verified deposit callback: recorded once per (txhash, confirmations), then checked."""
        ledger = self._s.ledger
        late = self._s.lifecycle.is_final
        new = ledger.entry_key(event) not in ledger.entries
        outcome = ledger.record(
            event, at=workflow.now(), required_confirmations=INVOICE_CONFIRMATIONS, late=late
        )
        if outcome == RecordOutcome.DUPLICATE:
            self._s.callbacks_repeated += 1
            if not late and self._repeat_may_check() and workflow.patched(REPEAT_WAKES_PATCH):
                self._wakeup.nudge()  # the expiry notice may repeat a partial payment's callback
            return
        key = ledger.entry_key(event)
        if ledger.entries[key].late and key not in self._s.late_keys:
            self._s.late_keys.append(key)
        elif new and not late:
            self._s.count_callback()
        self._wakeup.hint()

    def _repeat_may_check(self) -> bool:
        last = self._s.last_checked_at
        return last is None or (workflow.now() - last).total_seconds() >= REPEAT_CHECK_GAP_SECONDS

    @workflow.signal(description="An operator's reconciliation: check with the provider now")
    def check_now(self) -> None:
        """An operator's reconciliation: ask `/v3/orderstatus` now, keeping the polling pace."""
        self._wakeup.nudge()

    @workflow.query(description="The whole invoice as operators and the API see it")
    def state(self) -> InvoiceState:
        """The whole invoice as operators and the API see it."""
        return self._s
