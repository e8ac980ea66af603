"""One Passimpay H2H deposit address per order: each deposit confirmed with the provider, credited
once; open until closed.

A callback records a deposit and its confirmations; it is credited only when the callbacks have
reached the required confirmations *and* `/v3/orderstatus` for the address's orderId reports at
least that much received, in the address's own coin. When the provider cannot confirm (unknown
orderId, another unit), or a deposit stays unconfirmed past `confirm_deadline_seconds` (a lost
second UTXO callback), the deposit is flagged for an operator, who credits or rejects it.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.passimpay import AddressLookup, PassimpayActivities
    from providers.passimpay.models import OrderStatusV3
    from state.deposit_ledger import DepositEvent, LedgerEntry, RecordOutcome
    from state.passimpay_address import AddressStatus, unconfirmed_reason
    from state.passimpay_models import (
        AddressCarry,
        AddressOpened,
        AddressRequest,
        AddressView,
        DepositResolution,
    )
    from workflows.calls import STATUS_RETRY, call, failure_message, failure_type
    from workflows.visibility import publish_identity, publish_status

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-address:"
CHECKS = "status_checks"
FLAGGED_POLL_SECONDS = 300.0
"""Polling while every unsettled deposit already waits for an operator."""
TAG = "destination_tag"


def address_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's deposit address."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def _deposit_key(key: str) -> str:
    return f"deposit:{key}"


@workflow.defn
class PassimpayAddress:
    """Keeps one address's ledger; continue-as-new keeps the history short, the ledger whole."""

    @workflow.init
    def __init__(self, request: AddressRequest, carried: AddressCarry | None = None) -> None:
        self._request = request
        self._carry = carried or AddressCarry()
        self._events_this_run = 0
        self._close_requested = False
        self._hinted = False

    @workflow.run
    async def run(
        self, request: AddressRequest, carried: AddressCarry | None = None
    ) -> AddressView:
        publish_identity(PROVIDER, request.order_id, self._status)
        if carried is not None and self._carry.attention.needed:
            self._publish()
        if carried is None and not await self._assign():
            return self.state()
        while not self._time_to_continue_as_new():
            if self._close_requested and self._status != AddressStatus.CLOSED:
                self._move("close")
            if self._status == AddressStatus.CLOSED and not self._unsettled():
                break
            checked = True
            if self._unsettled():
                checked = await self._confirm_with_provider()
            await self._sleep(checked)
        if self._close_requested and self._status != AddressStatus.CLOSED:
            self._move("close")  # the close update must finish before this run ends
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._status == AddressStatus.CLOSED and not self._unsettled():
            return self.state()
        self._carry.runs += 1
        workflow.continue_as_new(args=[request, self._carry])

    def _time_to_continue_as_new(self) -> bool:
        return (
            self._events_this_run >= self._request.continue_as_new_after
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _sleep(self, checked: bool) -> None:
        """Until a callback, a close or an operator wakes us; poll while deposits are unsettled."""
        timeout: float | None = None
        unsettled = self._unsettled()
        if unsettled:
            timeout = self._request.timing.confirm_poll_seconds
            if all(entry.flag for entry in unsettled):  # an operator's turn: poll slowly
                timeout = max(timeout, FLAGGED_POLL_SECONDS)
            if not checked:
                timeout = self._carry.checks.retry_after(timeout)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self._hinted
                    or (self._close_requested and self._status != AddressStatus.CLOSED)
                    or self._time_to_continue_as_new()
                ),
                timeout=timeout,
            )
        self._hinted = False

    async def _assign(self) -> bool:
        """Learn the currency's confirmation needs, then ask for the address (and tag)."""
        request = self._request
        try:
            facts = await call(PassimpayActivities.currency, request.payment_id)
            assigned = await call(
                PassimpayActivities.address,
                AddressLookup(payment_id=request.payment_id, order_id=request.order_id),
            )
        except ActivityError as error:
            self._carry.failure_reason = f"no address: {failure_message(error)}"
            self._move("reject", self._carry.failure_reason)
            return False
        self._carry.required_confirmations = request.required_confirmations or (
            2 if facts.utxo else 1
        )
        for entry in self._carry.ledger.unsettled():  # callbacks that came before the address
            entry.required_confirmations = self._carry.required_confirmations
        self._carry.ticker = facts.ticker
        self._carry.address = assigned.address
        self._carry.destination_tag = assigned.destination_tag
        if facts.tag and not assigned.destination_tag:
            reason = f"{facts.ticker} needs a destination tag but none came"
            self._carry.failure_reason = reason
            self._carry.attention.raise_(TAG, reason)
        self._move("assign")
        return True

    # ---- confirmation with the provider ------------------------------------------------------

    def _unsettled(self) -> list[LedgerEntry]:
        return self._carry.ledger.unsettled()

    async def _confirm_with_provider(self) -> bool:
        """Credit what the provider confirms; flag what it cannot, or not in time."""
        carry = self._carry
        try:
            if carry.ticker is None:  # a ledger carried from a run that did not keep it
                facts = await call(
                    PassimpayActivities.currency,
                    self._request.payment_id,
                    retry_policy=STATUS_RETRY,
                )
                carry.ticker = facts.ticker
            status = await call(
                PassimpayActivities.order_status,
                self._request.order_id,
                retry_policy=STATUS_RETRY,
            )
        except ActivityError as error:
            message = failure_message(error)
            if failure_type(error) == REFUSED:
                self._checks_answered()
                self._flag_waiting(f"the provider cannot confirm it: {message}", all_reached=True)
                return True
            carry.checks.failed(workflow.now(), message)
            if carry.checks.overdue(workflow.now(), self._request.timing.attention_after_seconds):
                self._flag(CHECKS, carry.checks.reason())
            self._flag_waiting("not confirmed in time; status checks are failing")
            return False
        self._checks_answered()
        carry.provider_amount_paid = status.amount_paid
        carry.provider_currency = status.currency
        self._credit_covered(status)
        return True

    def _checks_answered(self) -> None:
        carry = self._carry
        carry.checks.succeeded()
        carry.status_checks += 1
        carry.last_checked_at = workflow.now()
        self._unflag(CHECKS)

    def _credit_covered(self, status: OrderStatusV3) -> None:
        carry = self._carry
        ticker = carry.ticker or ""
        unit = (status.currency or "").strip().upper()
        if unit != ticker.upper():
            self._flag_waiting(
                f"the provider reports amountPaid in {status.currency!r}, not {ticker}: "
                "the amounts cannot be compared",
                all_reached=True,
            )
            return
        paid = status.amount_paid or Decimal(0)
        for key in carry.ledger.covered(self._request.payment_id, paid):
            note = f"/v3/orderstatus amountPaid {paid} {status.currency} covers it"
            if carry.ledger.credit(key, workflow.now(), note):
                self._unflag(_deposit_key(key))
        self._flag_waiting(f"the provider reports only {paid} {status.currency} received")

    def _flag_waiting(self, why: str, *, all_reached: bool = False) -> None:
        """Flag deposits the provider has not confirmed: at once when it cannot (`all_reached`),
        else once they are older than the confirmation deadline."""
        deadline = self._request.timing.confirm_deadline_seconds
        for entry in self._unsettled():
            age = (workflow.now() - entry.first_seen_at).total_seconds()
            if entry.payment_id != self._request.payment_id:
                continue  # flagged when it arrived
            if (all_reached and entry.reached) or age >= deadline:
                reason = unconfirmed_reason(entry, why, age_seconds=age)
                entry.flag = reason
                self._flag(_deposit_key(entry.key), reason)

    # ---- bookkeeping -------------------------------------------------------------------------

    @property
    def _status(self) -> AddressStatus:
        return AddressStatus(self._carry.lifecycle.state)

    def _move(self, event: str, note: str | None = None) -> None:
        if self._carry.lifecycle.offer(event, workflow.now(), note):
            self._publish()

    def _flag(self, key: str, reason: str) -> None:
        if self._carry.attention.raise_(key, reason):
            self._publish()

    def _unflag(self, key: str) -> None:
        if self._carry.attention.clear(key):
            self._publish()

    def _publish(self) -> None:
        publish_status(self._status, needs_attention=self._carry.attention.needed)

    # ---- messages ----------------------------------------------------------------------------

    @workflow.update
    async def open(self, request: AddressRequest) -> AddressOpened:
        """Answer the starter with the address (and tag) once assigned."""
        await workflow.wait_condition(lambda: self._status != AddressStatus.REQUESTED)
        if self._carry.address is None:
            raise ApplicationError(
                f"no address for {request.order_id}: {self._carry.failure_reason}",
                type="AddressNotAssigned",
            )
        return AddressOpened(
            order_id=self._request.order_id,
            payment_id=self._request.payment_id,
            address=self._carry.address,
            destination_tag=self._carry.destination_tag,
            status=self._status,
        )

    @open.validator
    def _validate_open(self, request: AddressRequest) -> None:
        if request.payment_id != self._request.payment_id:
            raise ValueError(
                f"order {request.order_id} already has an address for paymentId "
                f"{self._request.payment_id}"
            )

    @workflow.signal
    def deposit(self, event: DepositEvent) -> None:
        """A verified deposit callback: recorded, then confirmed with the provider."""
        late = self._status == AddressStatus.CLOSED
        outcome = self._carry.ledger.record(
            event,
            at=workflow.now(),
            required_confirmations=self._carry.required_confirmations,
            late=late,
        )
        if outcome == RecordOutcome.DUPLICATE:
            return
        self._events_this_run += 1
        self._hinted = True
        key = self._carry.ledger.entry_key(event)
        entry = self._carry.ledger.entries[key]
        if event.payment_id != self._request.payment_id or entry.late:
            why = "after the address was closed" if entry.late else "in another currency"
            reason = f"deposit {event.amount} (paymentId {event.payment_id}) {why}"
            entry.flag = reason
            self._flag(_deposit_key(key), reason)

    @workflow.update
    def resolve_deposit(self, resolution: DepositResolution) -> AddressView:
        """An operator credits or rejects a deposit the provider did not confirm."""
        ledger, now = self._carry.ledger, workflow.now()
        note = f"operator: {resolution.note}"
        done = (
            ledger.credit(resolution.key, now, note)
            if resolution.credit
            else ledger.reject(resolution.key, now, note)
        )
        if done:
            self._unflag(_deposit_key(resolution.key))
        self._hinted = True
        return self.state()

    @resolve_deposit.validator
    def _validate_resolve(self, resolution: DepositResolution) -> None:
        entry = self._carry.ledger.entries.get(resolution.key)
        if entry is None:
            raise ValueError(f"no deposit {resolution.key!r} at this address")
        if entry.final:
            raise ValueError(f"deposit {resolution.key!r} is already {entry.lifecycle.state}")

    @workflow.update
    async def close(self) -> AddressView:
        """The merchant no longer expects deposits here (unsettled ones are still confirmed)."""
        self._close_requested = True
        await workflow.wait_condition(lambda: self._status == AddressStatus.CLOSED)
        return self.state()

    @close.validator
    def _validate_close(self) -> None:
        if self._carry.lifecycle.is_final:
            raise ValueError(f"the address is already {self._status.value}")

    @workflow.query
    def state(self) -> AddressView:
        """The address and its whole ledger."""
        carry = self._carry
        return AddressView(
            order_id=self._request.order_id,
            payment_id=self._request.payment_id,
            address=carry.address,
            destination_tag=carry.destination_tag,
            status=self._status,
            required_confirmations=carry.required_confirmations,
            credited_total=carry.ledger.credited_amount(self._request.payment_id),
            deposits=list(carry.ledger.entries.values()),
            runs=carry.runs,
            needs_attention=carry.attention.needed,
            attention=dict(carry.attention.reasons),
            failure_reason=carry.failure_reason,
            provider_amount_paid=carry.provider_amount_paid,
            provider_currency=carry.provider_currency,
            status_checks=carry.status_checks,
            last_checked_at=carry.last_checked_at,
            journal=list(carry.lifecycle.journal),
        )
