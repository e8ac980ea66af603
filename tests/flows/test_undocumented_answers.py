"""Providers that say something new: a status value their documentation does not list leaves
every flow safe (never completed, paid or failed on a guess), visible and still reading; once
the provider speaks plainly again the flow ends as the provider says."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from sandbox.paymentassist.variants import StatusVariants
from state.checkout_models import CheckoutTiming
from state.passimpay_models import InvoiceRequest, InvoiceTiming
from tests.conftest import Stack
from tests.flows.helpers import checkout_request, eventually, new_order_id, wait_for_status
from tests.flows.test_passimpay_withdrawal import payout

UNLISTED = "on_hold"


@pytest.fixture
def plain_providers(stack: Stack) -> Iterator[None]:
    """Both simulators back to their documented vocabulary after each test."""
    yield
    stack.sandbox.passimpay.faults.undocumented_status(False)
    stack.sandbox.paymentassist.variants = StatusVariants()


@pytest.mark.usefixtures("plain_providers")
async def test_a_checkout_never_completes_on_a_status_word_the_lender_does_not_document(
    stack: Stack,
) -> None:
    lender = stack.sandbox.paymentassist
    timing = CheckoutTiming(
        active_poll_seconds=0.3, idle_poll_seconds=0.6, invoice_watch_seconds=0,
        attention_after_seconds=1,
    )  # fmt: skip
    request = checkout_request(timing=timing)
    started = await stack.checkouts.start(request)
    lender.variants = StatusVariants(undocumented_status=UNLISTED)
    await lender.decide(started.token, "approve")
    view = await eventually(
        lambda: stack.checkouts.get(request.order_id), lambda v: v.needs_attention
    )
    assert view.status not in ("completed", "failed", "cancelled")
    checks = view.status_checks
    lender.variants = StatusVariants()
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.status_checks > checks and not view.needs_attention


@pytest.mark.usefixtures("plain_providers")
async def test_an_invoice_is_never_paid_on_a_status_value_passimpay_does_not_document(
    stack: Stack,
) -> None:
    sim = stack.sandbox.passimpay
    timing = InvoiceTiming(
        active_poll_seconds=0.3, idle_poll_seconds=0.3, attention_after_seconds=1
    )
    request = InvoiceRequest(order_id=new_order_id("inv"), amount=Decimal("20.00"), timing=timing)
    await stack.crypto.create_invoice(request)
    sim.faults.undocumented_status(True)
    await sim.pay(request.order_id)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.needs_attention
    )
    assert view.status == "awaiting_payment" and "unexpected reply" in str(view.attention)
    sim.faults.undocumented_status(False)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: v.status == "paid" and not v.needs_attention,
    )
    assert view.provider.amount_paid == Decimal("20.00")


@pytest.mark.usefixtures("plain_providers")
async def test_a_payout_is_neither_resent_nor_ended_on_an_approve_value_not_documented(
    stack: Stack,
) -> None:
    sim = stack.sandbox.passimpay

    def committed(order_id: str) -> int:
        return sum(w.order_id == order_id for w in sim.withdrawals.by_transaction.values())

    sim.unblock()
    saved, sim.withdraw_settle_seconds = sim.withdraw_settle_seconds, 0.3
    try:
        request = payout()
        sim.faults.undocumented_status(True)
        await stack.withdrawals.request(request)
        view = await eventually(
            lambda: stack.withdrawals.get(request.order_id),
            lambda v: v.status_failures >= 2 and v.trouble_since is not None,
            timeout=40,
        )
        assert view.status not in ("paid", "failed") and committed(request.order_id) == 1
        sim.faults.undocumented_status(False)
        view = await eventually(
            lambda: stack.withdrawals.get(request.order_id), lambda v: v.status == "paid"
        )
        assert committed(request.order_id) == 1 and view.trouble_since is None
    finally:
        sim.withdraw_settle_seconds = saved
