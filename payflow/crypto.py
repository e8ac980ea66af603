"""Typed Python API for Passimpay invoices, deposit addresses and unmatched callbacks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.decisions import DecisionKeys
from ledger.store import Ledger
from payflow.decision_keys import DecisionProver
from payflow.notify_targets import NotifyPolicy
from payflow.payment_records import PaymentRecords, live_or_kept
from payflow.workflow_calls import (
    CallBounds,
    PaymentConflict,
    PaymentNotFound,
    same_terms,
    start_or_join,
    with_notify_url,
    within,
    workflow_errors,
)
from state.deposit_ledger import DepositEvent
from state.passimpay_address import AddressStatus
from state.passimpay_invoice import InvoiceStatus
from state.passimpay_models import (
    Acknowledgement,
    AddressOpened,
    AddressRequest,
    AddressView,
    DepositResolution,
    InvoiceOpened,
    InvoiceRequest,
    InvoiceView,
    UnmatchedCallback,
    foreign_address,
)
from workflows.passimpay_address import PassimpayAddress, address_workflow_id
from workflows.passimpay_invoice import PROVIDER, PassimpayInvoice, invoice_workflow_id
from workflows.passimpay_unmatched import UNMATCHED_WORKFLOW_ID, PassimpayUnmatchedCallbacks


class DepositRefused(Exception):
    """A verified deposit callback no order may take (sent to another address): kept for an
    operator, never signalled."""

    def __init__(self, order_id: str, reason: str) -> None:
        super().__init__(f"deposit for order {order_id} refused: {reason}")
        self.order_id = order_id
        self.reason = reason


class CryptoNotOpened(PaymentConflict):
    """The invoice or address exists but the provider refused to create it."""

    def __init__(self, view: InvoiceView | AddressView) -> None:
        super().__init__(f"{view.order_id} is {view.status}: {view.failure_reason}")
        self.view = view


def _invoice_opened(view: InvoiceView) -> InvoiceOpened:
    """Where to send the payer of an invoice that exists; CryptoNotOpened without a URL."""
    if view.url is None:
        raise CryptoNotOpened(view)
    return InvoiceOpened(order_id=view.order_id, url=view.url, status=view.status)


def _address_opened(view: AddressView) -> AddressOpened:
    """The address of an order that has one; CryptoNotOpened without."""
    if view.address is None:
        raise CryptoNotOpened(view)
    return AddressOpened.model_validate(view.model_dump())


def _refused_type(error: WorkflowUpdateFailedError) -> str | None:
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


class PassimpayPayments:
    """Start, inspect and steer crypto pay-ins; each order maps to exactly one workflow."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        bounds: CallBounds | None = None,
        notify_url: str | None = None,
        notify_policy: NotifyPolicy | None = None,
        ledger: Ledger | None = None,
        proofs: DecisionKeys | None = None,
    ) -> None:
        """Without `ledger` nothing is registered or kept after Temporal deletes a flow;
        without `proofs` decisions are proven with the keys the settings name."""
        self._client = client
        self._prover = DecisionProver(client, proofs)
        self._notify_url = notify_url
        self._notify_policy = notify_policy
        self._task_queue = task_queue
        self._bounds = bounds or CallBounds.from_settings()
        self._records = PaymentRecords(ledger, client, self._bounds) if ledger else None

    async def create_invoice(self, request: InvoiceRequest) -> InvoiceOpened:
        """Create the order's invoice (or join it) and return the hosted payment URL."""
        request = with_notify_url(request, self._notify_url, self._notify_policy)
        workflow_id = invoice_workflow_id(request.order_id)
        if self._records is not None:
            kept = await self._records.before_start(
                "invoice",
                PROVIDER,
                request.order_id,
                request.summary(),
                what="an invoice",
                workflow_id=workflow_id,
                exclusive_with="address",
            )
            if kept is not None:
                return _invoice_opened(InvoiceView.model_validate(kept.view))
        try:
            return await start_or_join(
                self._client,
                run=PassimpayInvoice.run,
                update=PassimpayInvoice.open,
                arg=request,
                workflow_id=workflow_id,
                task_queue=self._task_queue,
                provider=PROVIDER,
                order_id=request.order_id,
                initial_status=InvoiceStatus.CREATED.value,
                terms=request.summary(),
                seconds=self._bounds.slow,
                start_args=[request, None],
            )
        except WorkflowAlreadyStartedError:
            await self._same_terms(workflow_id, request.summary(), "an invoice", request.order_id)
            return _invoice_opened(await self.get_invoice(request.order_id))
        except WorkflowUpdateFailedError as error:
            if _refused_type(error) == "InvoiceNotCreated":
                raise CryptoNotOpened(await self.get_invoice(request.order_id)) from None
            with workflow_errors(workflow_id):
                raise

    async def _same_terms(
        self, workflow_id: str, asked: dict[str, object], what: str, order_id: str
    ) -> None:
        await same_terms(
            self._client,
            workflow_id,
            asked,
            what=what,
            order_id=order_id,
            seconds=self._bounds.quick,
        )

    async def get_invoice(self, order_id: str) -> InvoiceView:
        """The invoice's whole state, deposits included (from the ledger of record once
        Temporal has deleted it)."""
        handle = self._client.get_workflow_handle_for(
            PassimpayInvoice.run, invoice_workflow_id(order_id)
        )
        return await live_or_kept(
            self._records,
            "invoice",
            order_id,
            handle,
            PassimpayInvoice.state,
            self._bounds.quick,
            InvoiceView,
        )

    async def open_address(self, request: AddressRequest) -> AddressOpened:
        """Assign the order's deposit address (or join it) and return it with its tag."""
        request = with_notify_url(request, self._notify_url, self._notify_policy)
        workflow_id = address_workflow_id(request.order_id)
        if self._records is not None:
            kept = await self._records.before_start(
                "address",
                PROVIDER,
                request.order_id,
                request.summary(),
                what="an address",
                workflow_id=workflow_id,
                exclusive_with="invoice",
            )
            if kept is not None:
                return _address_opened(AddressView.model_validate(kept.view))
        try:
            return await start_or_join(
                self._client,
                run=PassimpayAddress.run,
                update=PassimpayAddress.open,
                arg=request,
                workflow_id=workflow_id,
                task_queue=self._task_queue,
                provider=PROVIDER,
                order_id=request.order_id,
                initial_status=AddressStatus.REQUESTED.value,
                terms=request.summary(),
                seconds=self._bounds.slow,
                start_args=[request, None],
            )
        except WorkflowAlreadyStartedError:
            await self._same_terms(workflow_id, request.summary(), "an address", request.order_id)
            return _address_opened(await self.get_address(request.order_id))
        except WorkflowUpdateFailedError as error:
            if _refused_type(error) == "AddressNotAssigned":
                raise CryptoNotOpened(await self.get_address(request.order_id)) from None
            with workflow_errors(workflow_id):
                raise

    def _address_handle(self, order_id: str) -> WorkflowHandle[PassimpayAddress, AddressView]:
        return self._client.get_workflow_handle_for(
            PassimpayAddress.run, address_workflow_id(order_id)
        )

    async def get_address(self, order_id: str) -> AddressView:
        """The address's whole state, deposits included (across continue-as-new runs, and from
        the ledger of record once Temporal has deleted it)."""
        handle = self._address_handle(order_id)
        return await live_or_kept(
            self._records,
            "address",
            order_id,
            handle,
            PassimpayAddress.state,
            self._bounds.quick,
            AddressView,
        )

    async def close_address(self, order_id: str) -> AddressView:
        """Stop expecting deposits at this address."""
        handle = self._address_handle(order_id)
        async with within(self._bounds.slow, handle.id) as rpc:
            return await handle.execute_update(PassimpayAddress.close, rpc_timeout=rpc)

    async def resolve_deposit(self, order_id: str, resolution: DepositResolution) -> AddressView:
        """Operator: credit or reject a deposit the provider could not confirm."""
        handle = self._address_handle(order_id)
        resolution = self._prover.prove(handle.id, resolution)
        async with within(self._bounds.slow, handle.id) as rpc:
            return await handle.execute_update(
                PassimpayAddress.resolve_deposit, resolution, rpc_timeout=rpc
            )

    async def check_invoice_now(self, order_id: str) -> None:
        """Ask the invoice to read `/v3/orderstatus` now (an operator's reconciliation)."""
        handle = self._client.get_workflow_handle_for(
            PassimpayInvoice.run, invoice_workflow_id(order_id)
        )
        async with within(self._bounds.quick, handle.id) as rpc:
            await handle.signal(PassimpayInvoice.check_now, rpc_timeout=rpc)

    async def check_address_now(self, order_id: str) -> None:
        """Ask the address to confirm its unsettled deposits now (an operator's reconciliation)."""
        handle = self._address_handle(order_id)
        async with within(self._bounds.quick, handle.id) as rpc:
            await handle.signal(PassimpayAddress.check_now, rpc_timeout=rpc)

    async def deliver_deposit(
        self, order_id: str, event: DepositEvent
    ) -> Literal["invoice", "address"]:
        """Signal the open invoice or address of this order; PaymentNotFound when neither is.

        A deposit to an address is first checked against the address the workflow was given:
        sent elsewhere, it raises DepositRefused and the workflow never sees it. Each signal has
        its deadline, then PaymentUnavailable (Passimpay sends it again).
        """
        targets: tuple[tuple[Literal["invoice", "address"], str, Any], ...] = (
            ("invoice", invoice_workflow_id(order_id), PassimpayInvoice.deposit),
            ("address", address_workflow_id(order_id), PassimpayAddress.deposit),
        )
        for kind, workflow_id, signal in targets:
            if kind == "address":
                await self._check_address(order_id, event, self._bounds.signal / 2)
            try:
                async with within(self._bounds.signal, f"deposit for order {order_id}") as rpc:
                    handle = self._client.get_workflow_handle(workflow_id)
                    await handle.signal(signal, event, rpc_timeout=rpc)
            except (PaymentNotFound, PaymentConflict):
                continue
            return kind
        raise PaymentNotFound(f"no open invoice or address for order {order_id}")

    async def _check_address(self, order_id: str, event: DepositEvent, seconds: float) -> None:
        """Refuse a deposit whose addressTo is not the order's address. A query needs the
        worker: when none answers in `seconds` the signal goes anyway, and the workflow holds a
        foreign deposit itself (a callback is never lost to a worker being restarted)."""
        if not event.address_to:
            return
        try:
            async with asyncio.timeout(seconds):
                assigned = await self._address_handle(order_id).query(
                    PassimpayAddress.assignment, rpc_timeout=timedelta(seconds=seconds)
                )
        except (RPCError, WorkflowQueryFailedError, TimeoutError):
            return  # no such workflow (the signal says so), or none can answer now
        why = foreign_address(assigned, event)
        if why is not None:
            raise DepositRefused(order_id, why)

    async def record_unmatched(self, item: UnmatchedCallback) -> None:
        """Keep a verified callback nobody took, in the operators' inbox workflow."""
        async with within(self._bounds.quick, UNMATCHED_WORKFLOW_ID) as rpc:
            await self._client.start_workflow(
                PassimpayUnmatchedCallbacks.run,
                id=UNMATCHED_WORKFLOW_ID,
                task_queue=self._task_queue,
                start_signal="record",
                start_signal_args=[item],
                rpc_timeout=rpc,
            )

    async def unmatched(self) -> list[UnmatchedCallback]:
        """Callbacks waiting for an operator."""
        handle = self._client.get_workflow_handle_for(
            PassimpayUnmatchedCallbacks.run, UNMATCHED_WORKFLOW_ID
        )
        try:
            async with within(self._bounds.quick, UNMATCHED_WORKFLOW_ID) as rpc:
                return await handle.query(PassimpayUnmatchedCallbacks.items, rpc_timeout=rpc)
        except PaymentNotFound:
            return []

    async def acknowledge_unmatched(
        self, key: str, *, actor: str = "operator"
    ) -> list[UnmatchedCallback]:
        """An operator has dealt with one unmatched callback; the inbox records who."""
        handle = self._client.get_workflow_handle_for(
            PassimpayUnmatchedCallbacks.run, UNMATCHED_WORKFLOW_ID
        )
        async with within(self._bounds.slow, UNMATCHED_WORKFLOW_ID) as rpc:
            return await handle.execute_update(
                PassimpayUnmatchedCallbacks.acknowledge_by,
                Acknowledgement(key=key, actor=actor),
                rpc_timeout=rpc,
            )
