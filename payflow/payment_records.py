"""Starts and reads that outlive the workflow: the order registry before every start, the
ledger's record once Temporal has deleted the workflow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

from ledger.database import LedgerUnavailable
from ledger.store import Ledger
from payflow.workflow_calls import (
    CallBounds,
    OrderIdTaken,
    PaymentNotFound,
    PaymentUnavailable,
    TermsConflict,
    within,
)
from state.ledger_models import Kind, PaymentRecord
from state.terms import differing_terms

ViewT = TypeVar("ViewT", bound=BaseModel)


class PaymentRecords:
    """The ledger as the Python APIs use it: one kind of flow, one workflow id per order."""

    def __init__(self, ledger: Ledger, client: Client, bounds: CallBounds) -> None:
        self.ledger = ledger
        self._client = client
        self._bounds = bounds

    async def before_start(
        self,
        kind: Kind,
        provider: str,
        order_id: str,
        terms: Mapping[str, object],
        *,
        what: str,
        workflow_id: str,
        exclusive_with: Kind | None = None,
    ) -> PaymentRecord | None:
        """Register the order before anything starts. TermsConflict when it was registered on
        other terms; OrderIdTaken when `exclusive_with` (the kind that shares its callbacks)
        has the order id; its record when its flow has ended or its workflow is gone (answer
        from it: nothing is started or sent again); None when the caller may start or join."""
        try:
            await self._refuse_taken(exclusive_with, order_id)
            registration = await self.ledger.register(kind, provider, order_id, terms)
            await self._refuse_taken(exclusive_with, order_id)  # a start racing ours: both refused
        except LedgerUnavailable as error:
            raise PaymentUnavailable(f"{workflow_id}: the ledger is unavailable: {error}") from None
        record = registration.record
        if not registration.new and record.terms:
            changed = differing_terms(record.terms, terms)
            if changed:
                raise TermsConflict(
                    f"order {order_id} already has {what} with other terms: {changed}"
                )
        if record.closed and record.view is not None:
            return record
        recorded = record.status is not None and record.view is not None
        if recorded and not await self._exists(workflow_id):
            return record  # deleted while open (terminated, then retention): never restart
        return None

    async def _refuse_taken(self, other: Kind | None, order_id: str) -> None:
        if other is not None and await self.ledger.payment(other, order_id) is not None:
            raise OrderIdTaken(
                f"order {order_id} is already an {other}: one kind of flow per order"
            )

    async def _exists(self, workflow_id: str) -> bool:
        try:
            async with within(self._bounds.quick, workflow_id) as rpc:
                await self._client.get_workflow_handle(workflow_id).describe(rpc_timeout=rpc)
        except PaymentNotFound:
            return False
        return True

    async def closed_view(self, kind: Kind, order_id: str) -> dict[str, Any] | None:
        """The final view of a flow the ledger recorded as closed (written before its workflow
        ended); None when it has none or cannot answer now."""
        try:
            record = await self.ledger.payment(kind, order_id)
        except LedgerUnavailable:
            return None
        if record is None or not record.closed:
            return None
        return record.view

    async def kept_view(self, kind: Kind, order_id: str, workflow_id: str) -> dict[str, Any]:
        """The view the ledger kept of a flow whose workflow is gone; PaymentNotFound if none."""
        try:
            record = await self.ledger.payment(kind, order_id)
        except LedgerUnavailable as error:
            raise PaymentUnavailable(f"{workflow_id}: the ledger is unavailable: {error}") from None
        if record is None or record.view is None:
            raise PaymentNotFound(f"no payment {workflow_id}")
        return record.view


async def live_or_kept(
    records: PaymentRecords | None,
    kind: Kind,
    order_id: str,
    handle: WorkflowHandle[Any, Any],
    state: Callable[[Any], Any],
    seconds: float,
    model: type[ViewT],
) -> ViewT:
    """The flow's view from its workflow's `state` query while Temporal has it, else the one
    the ledger kept (PaymentNotFound without `records` or a record)."""
    try:
        async with within(seconds, handle.id) as rpc:
            return model.model_validate(await handle.query(state, rpc_timeout=rpc))
    except PaymentNotFound:
        if records is None:
            raise
        return model.model_validate(await records.kept_view(kind, order_id, handle.id))
