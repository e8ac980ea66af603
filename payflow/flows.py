"""Operators' view of every payment flow: found through visibility, read and steered through the
typed APIs, whatever the provider."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution

from payflow.checkouts import PaymentAssistCheckouts
from payflow.crypto import PassimpayPayments
from payflow.search_attributes import NEEDS_ATTENTION, ORDER_ID, PAYMENT_PROVIDER, PAYMENT_STATUS
from payflow.withdrawals import PassimpayWithdrawals
from payflow.workflow_calls import PaymentNotFound
from workflows.passimpay_address import WORKFLOW_ID_PREFIX as ADDRESS_PREFIX
from workflows.passimpay_invoice import WORKFLOW_ID_PREFIX as INVOICE_PREFIX
from workflows.passimpay_withdrawal import WORKFLOW_ID_PREFIX as WITHDRAWAL_PREFIX
from workflows.paymentassist_checkout import WORKFLOW_ID_PREFIX as CHECKOUT_PREFIX

Provider = Literal["paymentassist", "passimpay"]
PROVIDERS: tuple[str, ...] = get_args(Provider)
FlowKind = Literal["checkout", "invoice", "address", "withdrawal"]
KIND_PREFIXES: dict[FlowKind, str] = {
    "checkout": CHECKOUT_PREFIX,
    "invoice": INVOICE_PREFIX,
    "address": ADDRESS_PREFIX,
    "withdrawal": WITHDRAWAL_PREFIX,
}
KIND_PROVIDERS: dict[FlowKind, Provider] = {
    "checkout": "paymentassist",
    "invoice": "passimpay",
    "address": "passimpay",
    "withdrawal": "passimpay",
}
_STATUS = re.compile(r"^[a-z_]{1,40}$")


def kind_of(workflow_id: str) -> str:
    """The flow kind a workflow ID names; other payflow workflows (inbox, gate) by their prefix."""
    for kind, prefix in KIND_PREFIXES.items():
        if workflow_id.startswith(prefix):
            return kind
    return workflow_id.split(":", 1)[0].removeprefix("passimpay-").removeprefix("paymentassist-")


def visibility_query(
    *,
    provider: str | None = None,
    status: str | None = None,
    attention: bool = False,
    open_only: bool = False,
) -> str:
    """The list filter over our search attributes (values checked, so nothing is injected)."""
    if provider is not None and provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    if status is not None and not _STATUS.match(status):
        raise ValueError(f"not a status: {status!r} (lowercase letters and underscores)")
    named = ", ".join(f"'{name}'" for name in PROVIDERS)
    terms = [
        f"{PAYMENT_PROVIDER.name} = '{provider}'"
        if provider
        else f"{PAYMENT_PROVIDER.name} IN ({named})"
    ]
    if status:
        terms.append(f"{PAYMENT_STATUS.name} = '{status}'")
    if attention:
        terms.append(f"{NEEDS_ATTENTION.name} = true")
    if open_only:
        terms.append("ExecutionStatus = 'Running'")
    return " AND ".join(terms)


@dataclass(frozen=True)
class FlowRow:
    """One flow as visibility shows it: no worker needs to answer."""

    workflow_id: str
    kind: str
    provider: str | None
    order_id: str | None
    status: str | None
    needs_attention: bool
    execution: str
    started_at: datetime

    @classmethod
    def of(cls, execution: WorkflowExecution) -> FlowRow:
        found = execution.typed_search_attributes
        return cls(
            workflow_id=execution.id,
            kind=kind_of(execution.id),
            provider=found.get(PAYMENT_PROVIDER),
            order_id=found.get(ORDER_ID),
            status=found.get(PAYMENT_STATUS),
            needs_attention=bool(found.get(NEEDS_ATTENTION)),
            execution=execution.status.name.lower() if execution.status else "unknown",
            started_at=execution.start_time,
        )


async def list_flows(
    client: Client,
    *,
    provider: str | None = None,
    status: str | None = None,
    attention: bool = False,
    open_only: bool = False,
    limit: int = 50,
) -> list[FlowRow]:
    """Flows matching the filter, newest first, at most `limit`."""
    query = visibility_query(
        provider=provider, status=status, attention=attention, open_only=open_only
    )
    rows: list[FlowRow] = []
    async for execution in client.list_workflows(query, limit=limit):
        rows.append(FlowRow.of(execution))
    return rows


@dataclass(frozen=True)
class FlowState:
    """One flow's whole state, as its `state` query answers."""

    kind: FlowKind
    order_id: str
    state: BaseModel


class Flows:
    """Read and nudge an order's flows of any kind through the typed APIs."""

    def __init__(
        self,
        client: Client,
        checkouts: PaymentAssistCheckouts,
        crypto: PassimpayPayments,
        withdrawals: PassimpayWithdrawals,
    ) -> None:
        self.client = client
        self.checkouts = checkouts
        self.crypto = crypto
        self.withdrawals = withdrawals

    def _readers(self) -> dict[FlowKind, Callable[[str], Awaitable[BaseModel]]]:
        return {
            "checkout": self.checkouts.get,
            "invoice": self.crypto.get_invoice,
            "address": self.crypto.get_address,
            "withdrawal": self.withdrawals.get,
        }

    async def get(self, kind: FlowKind, order_id: str) -> FlowState:
        """The flow's state; PaymentNotFound when the order has no flow of that kind."""
        return FlowState(kind, order_id, await self._readers()[kind](order_id))

    async def find(self, order_id: str, provider: str | None = None) -> list[FlowState]:
        """Every flow the order has (of one provider's kinds), read directly by workflow ID."""
        found = []
        for kind in kinds_of(provider):
            try:
                found.append(await self.get(kind, order_id))
            except PaymentNotFound:
                continue
        return found

    async def check_now(self, kind: FlowKind, order_id: str) -> None:
        """Ask the flow to read the provider's status now (through its own activity)."""
        nudges: dict[FlowKind, Callable[[str], Awaitable[None]]] = {
            "checkout": self.checkouts.check_now,
            "invoice": self.crypto.check_invoice_now,
            "address": self.crypto.check_address_now,
            "withdrawal": self.withdrawals.check_now,
        }
        await nudges[kind](order_id)


def kinds_of(provider: str | None) -> Sequence[FlowKind]:
    """The flow kinds of one provider, or all."""
    return [kind for kind, owner in KIND_PROVIDERS.items() if provider in (None, owner)]


def payment_kind(kind: str) -> FlowKind | None:
    """`kind` when it is a payment flow with a state to read (not the inbox or a gate)."""
    return kind if kind in KIND_PREFIXES else None  # type: ignore[return-value]
