"""Compare each flow's status with the provider's own, as the flow last read it, and ask flows
to read it again: drift shows where our status and the provider's disagree."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from payflow.flows import FlowKind, Flows, FlowState
from payflow.workflow_calls import PaymentConflict, PaymentNotFound, PaymentUnavailable
from state.checkout import CheckoutStatus as C
from state.checkout_models import CheckoutView
from state.passimpay_address import AddressStatus
from state.passimpay_invoice import InvoiceStatus as I
from state.passimpay_invoice import status_event
from state.passimpay_models import AddressState, InvoiceState
from state.passimpay_withdrawal import WithdrawalStatus as W
from state.passimpay_withdrawal_models import WithdrawalState

Verdict = Literal["agrees", "drift", "unread", "n/a", "no answer"]
POLL_SECONDS = 0.25

CHECKOUT_AGREES: dict[str, frozenset[str]] = {
    "pending": frozenset({C.AWAITING_CUSTOMER}),
    "in progress": frozenset({C.AWAITING_CUSTOMER}),
    "pending_capture": frozenset({C.PENDING_CAPTURE}),
    "completed": frozenset({C.COMPLETED, C.INVOICED}),
    "failed": frozenset({C.FAILED}),
    "expired": frozenset({C.EXPIRED, C.CANCELLED}),
}
"""Our checkout statuses that agree with each `/status` answer."""
INVOICE_AGREES: dict[str | None, frozenset[str]] = {
    "settle": frozenset({I.PAID}),
    "receive_part": frozenset({I.PARTIALLY_PAID}),
    "expire_partial": frozenset({I.EXPIRED_PARTIAL, I.CREDITED_PARTIAL}),
    "expire": frozenset({I.EXPIRED}),
    None: frozenset({I.AWAITING_PAYMENT}),
}
"""Our invoice statuses that agree with the event a `/v3/orderstatus` reading calls for."""
WITHDRAWAL_AGREES: dict[int, frozenset[str]] = {
    0: frozenset({W.PENDING}),
    1: frozenset({W.PAID}),
    2: frozenset({W.FAILED}),
}
"""Our payout statuses that agree with `/v2/withdrawstatus` approve 0, 1, 2."""


@dataclass(frozen=True)
class Comparison:
    """What was compared for one flow, and whether the two sides agree."""

    kind: str
    order_id: str
    ours: str
    provider: str | None
    read_at: datetime | None
    verdict: Verdict
    compared: str
    note: str = ""


def _verdict(ours: str, agreeing: frozenset[str]) -> Verdict:
    return "agrees" if ours in agreeing else "drift"


def compare_checkout(order_id: str, view: CheckoutView) -> Comparison:
    """Our status against the last `/status` answer the checkout received."""
    said = view.provider_status
    verdict: Verdict = "unread" if said is None else _verdict(view.status, CHECKOUT_AGREES[said])
    return Comparison(
        "checkout", order_id, view.status, said, view.last_checked_at, verdict, "/status status"
    )


def compare_invoice(order_id: str, state: InvoiceState) -> Comparison:
    """Our status against what the last `/v3/orderstatus` reading calls for."""
    reading, compared = state.provider, "/v3/orderstatus status and amountPaid"
    if reading is None:
        return Comparison(
            "invoice", order_id, state.status, None, state.last_checked_at, "unread", compared
        )
    event, shown = status_event(
        reading.status, reading.amount_paid, callbacks_seen=bool(state.ledger.entries)
    )
    said = f"{reading.status} ({shown} {reading.currency or ''})".strip()
    verdict = _verdict(state.status, INVOICE_AGREES.get(event, frozenset()))
    return Comparison(
        "invoice", order_id, state.status, said, state.last_checked_at, verdict, compared
    )


def compare_address(order_id: str, state: AddressState) -> Comparison:
    """What the address credited against the provider's amountPaid, in the address's coin."""
    reading, compared = state.provider, "credited total vs /v3/orderstatus amountPaid"
    unsettled = len(state.ledger.unsettled())
    ours = f"{state.status}, credited {state.credited_total} {state.ticker or ''}".strip()
    if reading is None:
        verdict: Verdict = "unread" if unsettled else "n/a"
        note = f"{unsettled} deposits unsettled" if unsettled else "no deposit to confirm yet"
        return Comparison(
            "address", order_id, ours, None, state.last_checked_at, verdict, compared, note
        )
    said = f"amountPaid {reading.amount_paid} {reading.currency or ''}".strip()
    same_coin = (reading.currency or "").strip().upper() == (state.ticker or "").upper()
    paid = reading.amount_paid or 0
    verdict = "agrees" if same_coin and paid == state.credited_total else "drift"
    note = f"{unsettled} deposits unsettled" if unsettled else ""
    if not same_coin:
        note = f"the provider reports {reading.currency!r}, the address holds {state.ticker}"
    return Comparison(
        "address", order_id, ours, said, state.last_checked_at, verdict, compared, note
    )


def compare_withdrawal(order_id: str, state: WithdrawalState) -> Comparison:
    """Our status against the last `/v2/withdrawstatus` approve the payout received."""
    approve = state.provider_approve
    said = None if approve is None else f"approve {approve}"
    verdict: Verdict = (
        "unread" if approve is None else _verdict(state.status, WITHDRAWAL_AGREES[approve])
    )
    return Comparison(
        "withdrawal",
        order_id,
        state.status,
        said,
        state.last_checked_at,
        verdict,
        "/v2/withdrawstatus approve",
    )


def compare(flow: FlowState) -> Comparison:
    """The comparison that fits the flow's kind."""
    state: BaseModel = flow.state
    if isinstance(state, CheckoutView):
        return compare_checkout(flow.order_id, state)
    if isinstance(state, InvoiceState):
        return compare_invoice(flow.order_id, state)
    if isinstance(state, AddressState):
        return compare_address(flow.order_id, state)
    if isinstance(state, WithdrawalState):
        return compare_withdrawal(flow.order_id, state)
    raise TypeError(f"no comparison for {type(state).__name__}")


def _reading_mark(state: BaseModel) -> tuple[object, object]:
    """What changes when the flow has asked the provider again."""
    return getattr(state, "status_checks", None), getattr(state, "last_checked_at", None)


def _nothing_to_check(state: BaseModel) -> bool:
    """An address with no unsettled deposit asks the provider nothing, whatever it is told."""
    return isinstance(state, AddressState) and (
        not state.ledger.unsettled() or state.status == AddressStatus.FAILED
    )


async def reconcile_one(
    flows: Flows, kind: FlowKind, order_id: str, *, fix: bool, wait_seconds: float
) -> Comparison:
    """Compare one flow; with `fix`, first ask it to read the provider again and wait (bounded)
    for that reading."""
    try:
        before = await flows.get(kind, order_id)
        if not fix or _nothing_to_check(before.state):
            return compare(before)
        await flows.check_now(kind, order_id)
        mark = _reading_mark(before.state)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        after = before
        while _reading_mark(after.state) == mark and loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            after = await flows.get(kind, order_id)
    except (PaymentNotFound, PaymentConflict, PaymentUnavailable) as error:
        return Comparison(kind, order_id, "?", None, None, "no answer", "nothing", str(error))
    result = compare(after)
    if _reading_mark(after.state) == mark:
        return replace(result, note=f"no new reading within {wait_seconds:g} s {result.note}")
    return replace(result, note=f"read again now {result.note}".strip())


async def reconcile(
    flows: Flows,
    targets: Sequence[tuple[FlowKind, str]],
    *,
    fix: bool = False,
    wait_seconds: float = 10.0,
    concurrency: int = 8,
) -> list[Comparison]:
    """Compare every target flow, `concurrency` at a time, in the order given."""
    slots = asyncio.Semaphore(concurrency)

    async def bounded(kind: FlowKind, order_id: str) -> Comparison:
        async with slots:
            return await reconcile_one(flows, kind, order_id, fix=fix, wait_seconds=wait_seconds)

    return list(await asyncio.gather(*(bounded(kind, order) for kind, order in targets)))
