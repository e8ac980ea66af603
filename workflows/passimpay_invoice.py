"""One Passimpay invoice link per order: create, count every deposit once, confirm, expire."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.passimpay import PassimpayActivities
    from providers.passimpay.models import CreateOrderRequest, OrderStatusV3
    from state.deposit_ledger import DepositEvent, DepositLedger, RecordOutcome
    from state.passimpay_invoice import InvoiceLifecycle, InvoiceStatus
    from state.passimpay_models import (
        InvoiceOpened,
        InvoiceRequest,
        InvoiceView,
    )
    from workflows.calls import call, failure_message, failure_type
    from workflows.visibility import publish_identity, publish_status
    from workflows.wakeup import Wakeup

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-invoice:"
NOT_OPEN = frozenset({InvoiceStatus.CREATED})
INVOICE_CONFIRMATIONS = 1  # the provider decides when an invoice is paid; each callback counts once


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
        self._wakeup = Wakeup(request.timing)
        self._status_checks = 0
        self._last_checked_at: datetime | None = None
        self._failure_reason: str | None = None
        self._needs_attention = False
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
        self._needs_attention = True
        self._move("open", self._failure_reason)
        return True

    async def _follow_until_final(self) -> None:
        """Act on `/v3/orderstatus` after every callback, on the poll timer and at expiry."""
        deadline = self._opened_at + timedelta(seconds=self._request.expiry_seconds)
        while not self._lifecycle.is_final:
            await self._check_status()
            if self._status == InvoiceStatus.EXPIRED_PARTIAL and self._partial_is_settled():
                self._move("credit_partial", f"policy {self._request.partial_policy}")
            if self._lifecycle.is_final:
                return
            until_deadline = (deadline - workflow.now()).total_seconds()
            pause = self._wakeup.next_interval()
            if until_deadline > 0:
                pause = min(pause, until_deadline + 1)
            await self._wakeup.sleep(pause)

    def _partial_is_settled(self) -> bool:
        """Credit what arrived now, or once the top-up window after expiry has passed."""
        if self._request.partial_policy == "credit":
            return True
        expired_at = next(
            (e.at for e in reversed(self._lifecycle.journal) if e.target == "expired_partial"),
            workflow.now(),
        )
        waited = (workflow.now() - expired_at).total_seconds()
        return waited >= self._request.top_up_wait_seconds

    async def _check_status(self) -> None:
        try:
            status = await call(PassimpayActivities.order_status, self._request.order_id)
        except ActivityError as error:
            workflow.logger.warning("order status failed: %s", failure_message(error))
            return
        self._provider = status
        self._status_checks += 1
        self._last_checked_at = workflow.now()
        paid = status.amount_paid or 0
        match status.status:
            case "paid":
                self._move("settle")
            case "error" if paid >= self._request.amount:
                self._move("settle", f"topped up to {paid} after expiry")
            case "wait" if paid > 0:
                self._move("receive_part", f"{paid} paid")
            case "error":
                self._move("expire_partial" if paid > 0 else "expire", f"{paid} paid")

    async def _keep_for_late_deposits(self) -> None:
        """Stay a while after the end so coins sent late land in this ledger, flagged."""
        end = workflow.now() + timedelta(seconds=self._request.late_deposit_window_seconds)
        while (remaining := (end - workflow.now()).total_seconds()) > 0:
            await self._wakeup.sleep(remaining)

    # ---- bookkeeping -------------------------------------------------------------------------

    @property
    def _status(self) -> InvoiceStatus:
        return InvoiceStatus(self._lifecycle.state)

    def _move(self, event: str, note: str | None = None) -> None:
        if self._lifecycle.offer(event, workflow.now(), note):
            self._publish()

    def _publish(self) -> None:
        publish_status(self._status, needs_attention=self._needs_attention)

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
        """A verified deposit callback: recorded once per (txhash, confirmations), then confirmed."""
        late = self._lifecycle.is_final
        outcome = self._ledger.record(
            event, at=workflow.now(), required_confirmations=INVOICE_CONFIRMATIONS, late=late
        )
        if outcome == RecordOutcome.DUPLICATE:
            return
        if late:
            self._needs_attention = True
            self._publish()
        self._wakeup.hint()

    @workflow.query
    def state(self) -> InvoiceView:
        """The whole invoice as operators and the API see it."""
        status = self._provider
        return InvoiceView(
            order_id=self._request.order_id,
            status=self._status,
            amount=self._request.amount,
            symbol=self._request.symbol or "USD",
            url=self._url,
            provider_status=status.status if status else None,
            amount_paid=status.amount_paid if status else None,
            amount_credited_merchant=status.amount_credited_merchant if status else None,
            amount_credited_user=status.amount_credited_user if status else None,
            fee_service=status.fee_service if status else None,
            fee_network=status.fee_network if status else None,
            status_checks=self._status_checks,
            last_checked_at=self._last_checked_at,
            failure_reason=self._failure_reason,
            needs_attention=self._needs_attention,
            deposits=list(self._ledger.entries.values()),
            journal=list(self._lifecycle.journal),
        )
