"""Passimpay paths driven against the simulator, so their histories become replay goldens."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING

from payflow.stack import SANDBOX_PASSIMPAY_PLATFORM
from payflow.withdrawals import WithdrawalRejected
from state.passimpay_models import AddressRequest, InvoiceRequest, InvoiceTiming
from state.passimpay_withdrawal_models import (
    WithdrawalRequest,
    WithdrawalResolution,
    WithdrawalTiming,
)
from state.withdraw_gate import gate_workflow_id
from tests.flows.helpers import eventually
from workflows.passimpay_address import address_workflow_id
from workflows.passimpay_invoice import invoice_workflow_id
from workflows.passimpay_unmatched import UNMATCHED_WORKFLOW_ID
from workflows.passimpay_withdrawal import withdrawal_workflow_id

if TYPE_CHECKING:
    from tests.conftest import Stack
    from tests.replay.scenarios_paymentassist import Exported

USDT_TRC20 = 70
TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
QUIET = InvoiceTiming(active_poll_seconds=120, idle_poll_seconds=120)
"""Invoices that move on callbacks only: a short, stable history."""
POLLED = InvoiceTiming(active_poll_seconds=1, idle_poll_seconds=1)
"""Expiry sends no callback, so the expiring invoice polls, briefly."""
PAYOUT_TIMING = WithdrawalTiming(active_poll_seconds=1, idle_poll_seconds=1)


async def invoice_paid(stack: Stack) -> Exported:
    """Paid in full; the callback wakes it, /v3/orderstatus confirms, no late window."""
    request = InvoiceRequest(
        order_id="replay-inv-paid", amount=Decimal("100.00"), timing=QUIET,
        late_deposit_window_seconds=0,
    )  # fmt: skip
    await stack.crypto.create_invoice(request)
    await stack.sandbox.passimpay.pay(request.order_id)
    return {"PassimpayInvoice-paid": invoice_workflow_id(request.order_id)}


async def invoice_partial_then_expired(stack: Stack) -> Exported:
    """Partly paid, expired, then credited when the top-up window under its policy ends."""
    sim = stack.sandbox.passimpay
    request = InvoiceRequest(
        order_id="replay-inv-partial", amount=Decimal("100.00"), timing=POLLED,
        partial_policy="wait_for_top_up", top_up_wait_seconds=1, late_deposit_window_seconds=0,
    )  # fmt: skip
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("10.00"))
    await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.status == "partially_paid"
    )
    sim.expire_invoice(request.order_id)
    return {"PassimpayInvoice-partial-expired-top-up-window": invoice_workflow_id(request.order_id)}


async def address_deposits_then_close(stack: Stack) -> Exported:
    """Two deposits credited, the address closed; two deposits after close go to the inbox."""
    sim = stack.sandbox.passimpay
    order_id = "replay-adr"
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=USDT_TRC20))
    for amount in ("10", "20.5"):
        await sim.deposit(order_id, Decimal(amount))
    await eventually(
        lambda: stack.crypto.get_address(order_id),
        lambda view: sum(d.lifecycle.state == "credited" for d in view.deposits) == 2,
    )
    await stack.crypto.close_address(order_id)
    for amount in ("9", "7"):  # the second one leaves the inbox's attention flag as it was
        await sim.deposit(order_id, Decimal(amount))
    inbox = await eventually(
        stack.crypto.unmatched,
        lambda items: sum(item.order_id == order_id for item in items) == 2,
    )
    for item in inbox:
        await stack.crypto.acknowledge_unmatched(item.key)
    return {
        "PassimpayAddress-deposits-then-close": address_workflow_id(order_id),
        "PassimpayUnmatchedCallbacks-kept-then-acknowledged": UNMATCHED_WORKFLOW_ID,
    }


async def address_continued_then_closed(stack: Stack) -> Exported:
    """Continued as new after two callbacks; the next run, carrying the ledger, credits a third
    deposit and closes."""
    sim = stack.sandbox.passimpay
    order_id = "replay-adr-carried"
    request = AddressRequest(order_id=order_id, payment_id=USDT_TRC20, continue_as_new_after=2)
    await stack.crypto.open_address(request)
    for amount in ("1", "2", "3"):
        await sim.deposit(order_id, Decimal(amount))
    await eventually(
        lambda: stack.crypto.get_address(order_id),
        lambda view: view.runs >= 2 and view.credited_total == Decimal("6"),
    )
    await stack.crypto.close_address(order_id)
    return {"PassimpayAddress-continued-then-closed": address_workflow_id(order_id)}


def payout(order_id: str, **overrides: object) -> WithdrawalRequest:
    """12.5 USDT (TRC20) to a valid address, closed as soon as it ends."""
    values: dict[str, object] = {
        "order_id": order_id,
        "payment_id": USDT_TRC20,
        "address_to": TRON,
        "amount": Decimal("12.5"),
        "timing": PAYOUT_TIMING,
        "late_callback_window_seconds": 0,
    }
    return WithdrawalRequest(**{**values, **overrides})  # type: ignore[arg-type]


async def withdrawal_paid(stack: Stack) -> Exported:
    """Sent once through the gate, paid by the provider."""
    request = payout("replay-wd-paid")
    await stack.withdrawals.request(request)
    return {"PassimpayWithdrawal-paid": withdrawal_workflow_id(request.order_id)}


async def withdrawal_rejected(stack: Stack) -> Exported:
    """Refused by validation before anything is sent."""
    request = payout("replay-wd-rejected", address_to="not an address")
    with contextlib.suppress(WithdrawalRejected):  # the expected end of this path
        await stack.withdrawals.request(request)
    return {"PassimpayWithdrawal-rejected": withdrawal_workflow_id(request.order_id)}


async def withdrawal_unknown_then_retried(stack: Stack) -> Exported:
    """Maybe sent (503), never found by lookup, resent on the operator's `retry`, paid."""
    sim = stack.sandbox.passimpay
    sim.withdrawals.behave("duplicate")
    timing = PAYOUT_TIMING.model_copy(update={"lookup_window_seconds": 2.0})
    request = payout("replay-wd-unknown", timing=timing)
    sim.faults.fail_next("/v2/withdraw", "503")
    await stack.withdrawals.request(request)
    await eventually(
        lambda: stack.withdrawals.get(request.order_id),
        lambda view: view.status == "outcome_unknown",
        timeout=30,
    )
    retry = WithdrawalResolution(decision="retry", note="the dashboard shows no such payout")
    await stack.withdrawals.resolve(request.order_id, retry)
    return {
        "PassimpayWithdrawal-outcome-unknown-retried": withdrawal_workflow_id(request.order_id),
        "PassimpayWithdrawGate-after-payouts": gate_workflow_id(SANDBOX_PASSIMPAY_PLATFORM),
    }


SCENARIOS = [
    invoice_paid,
    invoice_partial_then_expired,
    address_deposits_then_close,
    address_continued_then_closed,
    withdrawal_paid,
    withdrawal_rejected,
    withdrawal_unknown_then_retried,
]
