"""One Passimpay H2H deposit address per order: each deposit credited once, open until closed."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.passimpay import AddressLookup, PassimpayActivities
    from state.deposit_ledger import DepositEvent, RecordOutcome
    from state.passimpay_address import AddressStatus
    from state.passimpay_models import (
        AddressCarry,
        AddressOpened,
        AddressRequest,
        AddressView,
    )
    from workflows.calls import call, failure_message
    from workflows.visibility import publish_identity, publish_status

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-address:"


def address_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's deposit address."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


@workflow.defn
class PassimpayAddress:
    """Keeps one address's ledger; continue-as-new keeps the history short, the ledger whole."""

    @workflow.init
    def __init__(self, request: AddressRequest, carried: AddressCarry | None = None) -> None:
        self._request = request
        self._carry = carried or AddressCarry()
        self._events_this_run = 0
        self._close_requested = False

    @workflow.run
    async def run(
        self, request: AddressRequest, carried: AddressCarry | None = None
    ) -> AddressView:
        publish_identity(PROVIDER, request.order_id, self._status)
        if carried is None and not await self._assign():
            return self.state()
        await workflow.wait_condition(
            lambda: (
                self._close_requested
                or self._events_this_run >= request.continue_as_new_after
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        if self._close_requested:
            self._move("close")
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self.state()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._carry.runs += 1
        workflow.continue_as_new(args=[request, self._carry])

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
        self._carry.address = assigned.address
        self._carry.destination_tag = assigned.destination_tag
        if facts.tag and not assigned.destination_tag:
            self._carry.needs_attention = True
            self._carry.failure_reason = f"{facts.ticker} needs a destination tag but none came"
        self._move("assign")
        return True

    @property
    def _status(self) -> AddressStatus:
        return AddressStatus(self._carry.lifecycle.state)

    def _move(self, event: str, note: str | None = None) -> None:
        if self._carry.lifecycle.offer(event, workflow.now(), note):
            publish_status(self._status, needs_attention=self._carry.needs_attention)

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
        """A verified deposit callback: credited once it has the required confirmations."""
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
        if late or event.payment_id != self._request.payment_id:
            self._carry.needs_attention = True
            publish_status(self._status, needs_attention=True)

    @workflow.update
    async def close(self) -> AddressView:
        """The merchant no longer expects deposits here."""
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
            credited_total=carry.ledger.credited_amount(),
            deposits=list(carry.ledger.entries.values()),
            runs=carry.runs,
            needs_attention=carry.needs_attention,
            failure_reason=carry.failure_reason,
            journal=list(carry.lifecycle.journal),
        )
