"""One Passimpay invoice link per order: create, follow `/v3/orderstatus`, expire, flag late coins.

Only the provider's status moves the invoice: `paid` settles it; money received otherwise is a
partial payment whatever `amountPaid` says, and `amountPaid` is compared with the invoice amount
only when the provider reports it in the invoice's own currency. Callbacks are hints.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.passimpay import PassimpayActivities
    from providers.passimpay.models import CreateOrderRequest, OrderStatusV3
    from state.attention import Attention, FailingChecks
    from state.deposit_ledger import DepositEvent, DepositLedger, RecordOutcome
    from state.passimpay_invoice import (
        InvoiceLifecycle,
        InvoiceStatus,
        late_money_grew,
        partial_settled,
        status_event,
        top_up_reached,
    )
    from state.passimpay_models import (
        InvoiceOpened,
        InvoiceRequest,
        InvoiceView,
    )
    from workflows.calls import STATUS_RETRY, call, failure_message, failure_type
    from workflows.visibility import publish_identity, publish_status
    from workflows.wakeup import Wakeup

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-invoice:"
NOT_OPEN = frozenset({InvoiceStatus.CREATED})
INVOICE_CONFIRMATIONS = 1  # the provider decides when an invoice is paid; each callback counts once
CHECKS = "status_checks"
LOST_URL = "payment_url_lost"


def invoice_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's invoice."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


@workflow.defn
class PassimpayInvoice:
    """Carries one invoice from creation to paid, expired or credited; late coins are flagged."""

    @workflow.init
    def __init__(self, request: InvoiceRequest) -> None:
        self._request = request
        self._lifecycle = InvoiceLifecycle()
        self._url: str | None = None
        self._ledger = DepositLedger()
        self._provider: OrderStatusV3 | None = None
        self._ended_with: OrderStatusV3 | None = None
        self._wakeup = Wakeup(request.timing)
        self._status_checks = 0
        self._last_checked_at: datetime | None = None
        self._failure_reason: str | None = None
        self._attention = Attention()
        self._checks = FailingChecks()
        self._late_keys: list[str] = []
        self._expired_partial_at: datetime | None = None
        self._opened_at = workflow.now()

    @workflow.run
    async def run(self, request: InvoiceRequest) -> InvoiceView:
        publish_identity(PROVIDER, request.order_id, self._status)
        if not await self._create():
            return self.state()
        await self._follow_until_final()
        await self._keep_for_late_deposits()
        return self.state()

    async def _create(self) -> bool:
        request = self._request
        order = CreateOrderRequest(
            order_id=request.order_id,
            amount=request.amount,
            symbol=request.symbol,
            currencies=request.currencies,
            type=request.type,
            first_name=request.first_name,
            last_name=request.last_name,
            email=request.email,
            phone_no=request.phone_no,
            return_url=request.return_url,
        )
        try:
            link = await call(PassimpayActivities.create_order, order)
        except ActivityError as error:
            refused = failure_type(error) == REFUSED
            failure = (
                f"/v2/createorder {'refused' if refused else 'failed'}: {failure_message(error)}"
            )
            return await self._adopt_if_it_exists(failure)
        self._url = link.url
        self._move("open")
        return True

    async def _adopt_if_it_exists(self, failure: str) -> bool:
        """A failed create may still have created the invoice (a lost reply): never leave it
        untracked. If the provider knows the orderId, follow it and ask an operator to look."""
        try:
            await call(PassimpayActivities.order_status, self._request.order_id)
        except ActivityError:
            self._failure_reason = failure
            self._move("reject", failure)
            return False
        self._failure_reason = f"{failure}; the invoice exists but its payment URL was lost"
        self._attention.raise_(LOST_URL, self._failure_reason)
        self._move("open", self._failure_reason)
        return True

    async def _follow_until_final(self) -> None:
        """Act on `/v3/orderstatus` after every callback, on the poll timer and at expiry."""
        deadline = self._opened_at + timedelta(seconds=self._request.expiry_seconds)
        while not self._lifecycle.is_final:
            checked = await self._check_status()
            if checked and self._status == InvoiceStatus.EXPIRED_PARTIAL:
                self._apply_partial_policy()
            if self._lifecycle.is_final:
                return
            pause = self._pause(checked)
            until_deadline = (deadline - workflow.now()).total_seconds()
            if until_deadline > 0:
                pause = min(pause, until_deadline + 1)
            await self._wakeup.sleep(pause)

    def _pause(self, checked: bool) -> float:
        """The poll interval, or a shorter backoff while checks fail."""
        pause = self._wakeup.next_interval()
        return pause if checked else self._checks.retry_after(pause)

    def _apply_partial_policy(self) -> None:
        """Credit what arrived now, once topped up (same unit only), or after the top-up window."""
        status = self._provider
        expired_at = self._expired_partial_at or workflow.now()
        topped_up = status is not None and top_up_reached(
            status.amount_paid,
            status.currency,
            amount=self._request.amount,
            symbol=self._symbol,
        )
        if partial_settled(
            self._request.partial_policy,
            waited_seconds=(workflow.now() - expired_at).total_seconds(),
            top_up_wait_seconds=self._request.top_up_wait_seconds,
            topped_up=topped_up,
        ):
            note = f"policy {self._request.partial_policy}"
            if topped_up and status is not None:
                note += f"; topped up to {status.amount_paid} {status.currency} after expiry"
            self._move("credit_partial", note)

    async def _check_status(self) -> bool:
        """Ask the provider; True when it answered. Failing checks raise attention after a bound."""
        status = await self._ask_provider()
        if status is None:
            return False
        event, note = status_event(
            status.status, status.amount_paid, callbacks_seen=bool(self._ledger.entries)
        )
        if event is not None and self._lifecycle.can(event):  # a repeated reading is no event
            self._move(event, f"{note} {status.currency or ''}".strip())
            if self._status == InvoiceStatus.EXPIRED_PARTIAL and self._expired_partial_at is None:
                self._expired_partial_at = workflow.now()
        return True

    async def _ask_provider(self) -> OrderStatusV3 | None:
        try:
            status = await call(
                PassimpayActivities.order_status,
                self._request.order_id,
                retry_policy=STATUS_RETRY,
            )
        except ActivityError as error:
            message = failure_message(error)
            workflow.logger.warning("order status failed: %s", message)
            self._checks.failed(workflow.now(), message)
            if self._checks.overdue(workflow.now(), self._request.timing.attention_after_seconds):
                self._flag(CHECKS, self._checks.reason())
            return None
        self._checks.succeeded()
        self._unflag(CHECKS)
        self._provider = status
        self._status_checks += 1
        self._last_checked_at = workflow.now()
        return status

    async def _keep_for_late_deposits(self) -> None:
        """Stay a while after the end so coins sent late land in this ledger; each late callback
        is checked with the provider and flagged unless the provider shows no new money and it
        repeats what arrived before (the expiry notice of a partial payment)."""
        self._ended_with = self._provider
        end = workflow.now() + timedelta(seconds=self._request.late_deposit_window_seconds)
        while (remaining := (end - workflow.now()).total_seconds()) > 0:
            await self._wakeup.sleep(remaining)
            if self._late_keys:
                await self._judge_late_deposits()

    async def _judge_late_deposits(self) -> None:
        status = await self._ask_provider()
        keys, self._late_keys = self._late_keys, []
        before = self._ended_with
        grew = (
            None
            if status is None
            else late_money_grew(
                (before.amount_paid, before.currency) if before else (None, None),
                (status.amount_paid, status.currency),
            )
        )
        for key in keys:
            entry = self._ledger.entries[key]
            if grew is False and self._ledger.repeats_earlier(key):
                entry.lifecycle.offer("reject", workflow.now(), "repeats earlier deposits")
                continue
            reason = (
                f"deposit {entry.amount} (paymentId {entry.payment_id}) after the invoice ended"
            )
            if grew is None:
                reason += "; the provider's amountPaid could not be compared"
            entry.flag = reason
            self._flag(f"late:{key}", reason)
        if status is not None:
            self._ended_with = status

    # ---- bookkeeping -------------------------------------------------------------------------

    @property
    def _status(self) -> InvoiceStatus:
        return InvoiceStatus(self._lifecycle.state)

    @property
    def _symbol(self) -> str:
        return self._request.symbol or "USD"

    def _move(self, event: str, note: str | None = None) -> None:
        if self._lifecycle.offer(event, workflow.now(), note):
            self._publish()

    def _flag(self, key: str, reason: str) -> None:
        if self._attention.raise_(key, reason):
            self._publish()

    def _unflag(self, key: str) -> None:
        if self._attention.clear(key):
            self._publish()

    def _publish(self) -> None:
        publish_status(self._status, needs_attention=self._attention.needed)

    # ---- messages ----------------------------------------------------------------------------

    @workflow.update
    async def open(self, request: InvoiceRequest) -> InvoiceOpened:
        """Answer the starter with the hosted payment URL once the invoice exists."""
        await workflow.wait_condition(lambda: self._url is not None or self._status not in NOT_OPEN)
        if self._url is None:
            raise ApplicationError(
                f"invoice {self._request.order_id} has no payment URL: {self._failure_reason}",
                type="InvoiceNotCreated",
            )
        return InvoiceOpened(order_id=self._request.order_id, url=self._url, status=self._status)

    @open.validator
    def _validate_open(self, request: InvoiceRequest) -> None:
        if request.order_id != self._request.order_id or request.amount != self._request.amount:
            raise ValueError(
                f"order {self._request.order_id} already has an invoice for {self._request.amount}"
            )

    @workflow.signal
    def deposit(self, event: DepositEvent) -> None:
        """A verified deposit callback: recorded once per (txhash, confirmations), then checked."""
        late = self._lifecycle.is_final
        outcome = self._ledger.record(
            event, at=workflow.now(), required_confirmations=INVOICE_CONFIRMATIONS, late=late
        )
        if outcome == RecordOutcome.DUPLICATE:
            return
        key = self._ledger.entry_key(event)
        if self._ledger.entries[key].late and key not in self._late_keys:
            self._late_keys.append(key)
        self._wakeup.hint()

    @workflow.query
    def state(self) -> InvoiceView:
        """The whole invoice as operators and the API see it."""
        status = self._provider
        return InvoiceView(
            order_id=self._request.order_id,
            status=self._status,
            amount=self._request.amount,
            symbol=self._symbol,
            url=self._url,
            provider_status=status.status if status else None,
            amount_paid=status.amount_paid if status else None,
            amount_paid_currency=status.currency if status else None,
            amount_credited_merchant=status.amount_credited_merchant if status else None,
            amount_credited_user=status.amount_credited_user if status else None,
            fee_service=status.fee_service if status else None,
            fee_network=status.fee_network if status else None,
            status_checks=self._status_checks,
            last_checked_at=self._last_checked_at,
            failure_reason=self._failure_reason,
            needs_attention=self._attention.needed,
            attention=dict(self._attention.reasons),
            deposits=list(self._ledger.entries.values()),
            journal=list(self._lifecycle.journal),
        )
