"""Passimpay invoice links end to end: real Temporal dev server, gateway and simulator over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle

from payflow.crypto import CryptoNotOpened, PassimpayPayments
from payflow.search_attributes import NEEDS_ATTENTION
from sandbox.passimpay.faults import AmountPaidUnit, ExpiryCallback
from state.passimpay_models import InvoiceRequest, InvoiceTiming, InvoiceView
from tests.conftest import Stack
from tests.flows.helpers import browser_get, decoded_history, eventually, new_order_id
from workflows.passimpay_invoice import REPEAT_CHECK_GAP_SECONDS, invoice_workflow_id

USDT_TRC20 = 70
BTC = 10
DOGE = 30
SLOW = InvoiceTiming(active_poll_seconds=120, idle_poll_seconds=120)
FAST = InvoiceTiming(active_poll_seconds=0.3, idle_poll_seconds=0.3)


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _clear_faults(stack: Stack):  # type: ignore[no-untyped-def]
    stack.sandbox.passimpay.faults.clear()
    yield
    stack.sandbox.passimpay.faults.clear()
    await stack.sandbox.passimpay.wait_idle()


def invoice_request(**overrides: object) -> InvoiceRequest:
    values: dict[str, object] = {
        "order_id": new_order_id("inv"),
        "amount": Decimal("100.00"),
        "timing": SLOW,
    }
    return InvoiceRequest(**{**values, **overrides})  # type: ignore[arg-type]


async def wait_for_invoice(
    crypto: PassimpayPayments, order_id: str, *statuses: str, timeout: float = 20.0
) -> InvoiceView:
    return await eventually(
        lambda: crypto.get_invoice(order_id), lambda view: view.status in statuses, timeout=timeout
    )


async def needs_attention_attribute(handle: WorkflowHandle[Any, Any]) -> bool | None:
    """The `NeedsAttention` search attribute as operators filter on it."""
    described = await handle.describe()
    return described.typed_search_attributes.get(NEEDS_ATTENTION)


@pytest.mark.parametrize("unit", ["fiat", "coin"])
async def test_invoice_paid_in_full(stack: Stack, unit: AmountPaidUnit) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.amount_paid_unit(unit)
    request = invoice_request()
    opened = await stack.crypto.create_invoice(request)
    assert opened.url.startswith(sim.base_url) and opened.status == "awaiting_payment"
    page = await browser_get(opened.url)
    assert page.status_code == 200 and "100.00" in page.text

    await sim.pay(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "paid")
    expected = (Decimal("100.00"), "USDT") if unit == "coin" else (Decimal("100.00"), "USD")
    assert (view.provider.amount_paid, view.provider.currency) == expected
    assert view.provider.status == "paid"
    assert (
        view.provider.fee_service is not None and view.provider.amount_credited_merchant is not None
    )
    assert len(view.deposits) == 1 and view.deposits[0].payment_id == USDT_TRC20


async def test_callbacks_with_numeric_amounts_are_taken_exactly(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.callback_amounts("numbers")
    request = invoice_request()
    await stack.crypto.create_invoice(request)
    await sim.deposit(request.order_id, Decimal("100.000001"), payment_id=USDT_TRC20)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: v.status == "paid" and len(v.deposits) == 1,
    )
    assert view.deposits[0].amount == Decimal("100.000001") and not view.needs_attention
    sent = [d for d in sim.callback_log if request.order_id.encode() in d.body]
    assert sent and all(d.ok and b'"amount":100.000001' in d.body for d in sent)


@pytest.mark.parametrize("unit", ["fiat", "coin"])
async def test_partial_then_topped_up(stack: Stack, unit: AmountPaidUnit) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.amount_paid_unit(unit)
    request = invoice_request()
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("40.00"))
    view = await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    assert view.provider.amount_paid == Decimal("40.00")
    await sim.pay(request.order_id)
    view = await eventually(  # its callback may come before or after the read that saw paid
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: v.status == "paid" and len(v.deposits) == 2 and not v.deposits[-1].late,
    )
    assert view.provider.amount_paid == Decimal("100.00") and not view.needs_attention


@pytest.mark.parametrize("unit", ["fiat", "coin"])
async def test_paying_callback_after_the_read_that_saw_paid_is_the_payment(
    stack: Stack, unit: AmountPaidUnit
) -> None:
    """The last part equals the earlier one and its callback comes after the status read saw
    `paid`: it is the paying deposit, neither late, nor flagged, nor rejected."""
    sim = stack.sandbox.passimpay
    sim.faults.amount_paid_unit(unit)
    request = invoice_request(timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("50.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    sim.faults.reorder_callbacks(True)  # held until released
    await sim.pay(request.order_id, amount=Decimal("50.00"))
    view = await wait_for_invoice(stack.crypto, request.order_id, "paid")
    assert len(view.deposits) == 1  # the status read came first
    sim.faults.reorder_callbacks(False)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: len(v.deposits) == 2 and not v.deposits[-1].late,
    )
    paying = view.deposits[-1]
    assert paying.flag is None and paying.lifecycle.state != "rejected"
    assert "paying deposit" in (paying.lifecycle.journal[-1].note or "")
    assert view.needs_attention is False and view.attention.reasons == {}


async def test_late_payment_equal_to_the_earlier_ones_is_flagged_when_the_total_stops(
    stack: Stack,
) -> None:
    """After `paid`, a payment of the same amount as the earlier parts is new money even when
    the provider's `amountPaid` no longer moves: flagged for an operator, never dropped."""
    sim = stack.sandbox.passimpay
    sim.faults.late_amount_paid("frozen")
    request = invoice_request(timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id)
    await eventually(
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: v.status == "paid" and len(v.deposits) == 1,
    )
    await sim.deposit(request.order_id, Decimal("100"), payment_id=USDT_TRC20)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.needs_attention
    )
    late = view.deposits[-1]
    assert late.late and late.flag and late.lifecycle.state != "rejected"
    assert view.status == "paid" and view.provider.amount_paid == Decimal("100.00")


async def test_partial_then_expired_credits_what_arrived(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request(partial_policy="credit", timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("25.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    sim.expire_invoice(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "credited_partial")
    assert view.provider.status == "error" and view.provider.amount_paid == Decimal("25.00")
    assert [e.target for e in view.lifecycle.journal if e.target][-2:] == [
        "expired_partial",
        "credited_partial",
    ]


async def test_top_up_after_expiry_is_credited_never_paid(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request(partial_policy="wait_for_top_up", timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("60.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    sim.expire_invoice(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "expired_partial")
    assert view.needs_attention is False

    await sim.deposit(request.order_id, Decimal("40"), payment_id=USDT_TRC20)
    view = await wait_for_invoice(stack.crypto, request.order_id, "credited_partial")
    assert view.provider.status == "error"  # the provider never said paid: neither do we
    assert (view.provider.amount_paid, view.provider.currency) == (Decimal("100.00"), "USD")
    assert "topped up" in (view.lifecycle.journal[-1].note or "")


async def test_top_up_window_ends_in_credit(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request(partial_policy="wait_for_top_up", top_up_wait_seconds=1, timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("10.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    sim.expire_invoice(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "credited_partial")
    assert view.provider.amount_paid == Decimal("10.00")


@pytest.mark.parametrize("unit", ["fiat", "coin"])
async def test_split_across_two_currencies(stack: Stack, unit: AmountPaidUnit) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.amount_paid_unit(unit)
    request = invoice_request()
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, payment_id=USDT_TRC20, amount=Decimal("30.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    await sim.pay(request.order_id, payment_id=BTC)
    view = await wait_for_invoice(stack.crypto, request.order_id, "paid")
    assert {d.payment_id for d in view.deposits} == {USDT_TRC20, BTC}


async def test_every_callback_dropped_polling_reaches_paid(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.drop_callbacks()
    request = invoice_request(timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "paid")
    assert view.deposits == []  # no callback ever arrived; the status API alone decided


async def test_every_callback_dropped_polling_reaches_expiry(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.drop_callbacks()
    request = invoice_request(timing=FAST)
    await stack.crypto.create_invoice(request)
    sim.expire_invoice(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "expired")
    assert view.provider.amount_paid in (None, Decimal("0"), Decimal("0.00"))


async def test_status_lagging_callbacks_is_waited_for(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request(timing=FAST)
    await stack.crypto.create_invoice(request)
    await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.status_checks >= 1
    )
    sim.faults.status_lag(1.5)
    await sim.pay(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "paid")
    assert len(view.deposits) == 1


async def test_deposit_after_expiry_is_flagged(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request(timing=FAST)
    await stack.crypto.create_invoice(request)
    sim.expire_invoice(request.order_id)
    await wait_for_invoice(stack.crypto, request.order_id, "expired")
    await sim.deposit(request.order_id, Decimal("5"), payment_id=USDT_TRC20)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.needs_attention
    )
    assert view.status == "expired"
    assert [d.late for d in view.deposits] == [True]


async def test_callbacks_the_provider_does_not_count_at_expiry_are_flagged(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request(timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.deposit(request.order_id, Decimal("30"), payment_id=USDT_TRC20, counted=False)
    await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: len(v.deposits) == 1
    )
    sim.expire_invoice(request.order_id)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.needs_attention
    )
    assert view.status == "expired" and view.provider.amount_paid == 0
    [deposit] = view.deposits
    assert deposit.flag and "nothing paid at expiry" in deposit.flag and not deposit.late


async def test_same_invoice_requested_twice_is_one_order(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request()
    creates = sim.calls["/v2/createorder"]
    first = await stack.crypto.create_invoice(request)
    again = await stack.crypto.create_invoice(request)
    assert first.url == again.url
    assert sim.calls["/v2/createorder"] == creates + 1


async def test_eighteen_decimal_amount_round_trips(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request()
    await stack.crypto.create_invoice(request)
    await sim.deposit(request.order_id, Decimal("0.123456789012345678"), payment_id=60)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: len(v.deposits) == 1
    )
    assert view.deposits[0].amount == Decimal("0.123456789012345678")


async def test_no_platform_key_in_invoice_history(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = invoice_request()
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id)
    await wait_for_invoice(stack.crypto, request.order_id, "paid")
    history = await decoded_history(
        stack.client.get_workflow_handle(invoice_workflow_id(request.order_id))
    )
    assert request.order_id in history and "100.00" in history
    assert sim.platforms[50] not in history


async def test_lost_create_reply_is_still_tracked(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.fail_next("/v2/createorder", "lose_response")
    request = invoice_request(timing=FAST)
    with pytest.raises(CryptoNotOpened) as not_opened:
        await stack.crypto.create_invoice(request)
    assert not_opened.value.view.needs_attention is True
    assert request.order_id in sim.invoices.by_order  # the provider did create it
    await sim.pay(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "paid")
    assert view.url is None and view.needs_attention is True


async def test_refused_create_fails_the_invoice(stack: Stack) -> None:
    request = invoice_request(symbol="JPY")  # a currency the platform does not accept
    with pytest.raises(CryptoNotOpened) as not_opened:
        await stack.crypto.create_invoice(request)
    view = not_opened.value.view
    assert view.status == "failed" and view.failure_reason
    assert "refused" in view.failure_reason


# --- amounts only in one unit, `paid` only from the provider ------------------------------


@pytest.mark.parametrize("unit", ["fiat", "coin"])
async def test_partial_payment_in_a_cheap_coin_is_never_paid(
    stack: Stack, unit: AmountPaidUnit
) -> None:
    """60 DOGE (7.20 USD) on a 50.00 USD invoice: partial whatever unit amountPaid is in."""
    sim = stack.sandbox.passimpay
    sim.faults.amount_paid_unit(unit)
    request = invoice_request(amount=Decimal("50.00"), partial_policy="credit", timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.deposit(request.order_id, Decimal("60"), payment_id=DOGE)
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    sim.expire_invoice(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "credited_partial")
    assert view.provider.status == "error"
    expected = (Decimal("60"), "DOGE") if unit == "coin" else (Decimal("7.20"), "USD")
    assert (view.provider.amount_paid, view.provider.currency) == expected
    assert "paid" not in [e.target for e in view.lifecycle.journal]


async def test_top_up_in_coin_unit_waits_for_the_policy_window(stack: Stack) -> None:
    """A coin-unit amountPaid cannot show that a top-up reached the fiat amount: the whole
    top-up window runs, then what arrived is credited; never `paid`."""
    sim = stack.sandbox.passimpay
    sim.faults.amount_paid_unit("coin")
    request = invoice_request(
        amount=Decimal("50.00"),
        partial_policy="wait_for_top_up",
        top_up_wait_seconds=2,
        timing=FAST,
    )
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("20.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    sim.expire_invoice(request.order_id)
    await wait_for_invoice(stack.crypto, request.order_id, "expired_partial")
    await sim.deposit(request.order_id, Decimal("1000"), payment_id=USDT_TRC20)
    view = await wait_for_invoice(stack.crypto, request.order_id, "credited_partial")
    expired_at, credited_at = (
        next(e.at for e in view.lifecycle.journal if e.target == target)
        for target in ("expired_partial", "credited_partial")
    )
    assert (credited_at - expired_at).total_seconds() >= 2
    assert view.provider.currency == "USDT" and view.provider.amount_paid == Decimal("1020.000000")


@pytest.mark.parametrize("notice", ["new_txhash", "repeat"])
async def test_expiry_notice_of_a_partial_payment_adds_no_money(
    stack: Stack, notice: ExpiryCallback
) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.partial_expiry_callback(notice)
    request = invoice_request(partial_policy="credit", timing=FAST)
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("25.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    sim.expire_invoice(request.order_id)
    await sim.wait_idle()
    expected = 2 if notice == "new_txhash" else 1
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: (
            v.status == "credited_partial"
            and len(v.deposits) == expected
            and all(not d.late or d.lifecycle.state == "rejected" or d.flag for d in v.deposits)
        ),
    )
    assert view.provider.amount_paid == Decimal("25.00") and view.needs_attention is False
    assert view.attention.reasons == {}


async def test_an_expiry_notice_repeating_the_partial_payment_wakes_the_invoice(
    stack: Stack,
) -> None:
    """Polls are two minutes apart; the repeated callback makes the expiry seen at once."""
    sim = stack.sandbox.passimpay
    sim.faults.partial_expiry_callback("repeat")
    request = invoice_request(partial_policy="credit")
    await stack.crypto.create_invoice(request)
    await sim.pay(request.order_id, amount=Decimal("25.00"))
    await wait_for_invoice(stack.crypto, request.order_id, "partially_paid")
    await eventually(
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: (
            v.last_checked_at is not None
            and (datetime.now(UTC) - v.last_checked_at).total_seconds() > REPEAT_CHECK_GAP_SECONDS
        ),
        timeout=REPEAT_CHECK_GAP_SECONDS + 10,
    )
    sim.expire_invoice(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "credited_partial", timeout=10)
    assert view.callbacks_repeated == 1 and view.needs_attention is False


# --- failing status checks are visible ----------------------------------------------------


async def test_failing_status_checks_raise_attention_until_they_work_again(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    timing = InvoiceTiming(
        active_poll_seconds=0.3, idle_poll_seconds=0.3, attention_after_seconds=1
    )
    request = invoice_request(timing=timing)
    await stack.crypto.create_invoice(request)
    sim.faults.fail_next("/v3/orderstatus", "503", times=100_000)
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.needs_attention
    )
    assert "HTTP 503" in view.attention["status_checks"] and view.status == "awaiting_payment"
    handle = stack.client.get_workflow_handle(invoice_workflow_id(request.order_id))
    assert await needs_attention_attribute(handle) is True

    sim.faults.clear()
    await sim.pay(request.order_id)
    view = await wait_for_invoice(stack.crypto, request.order_id, "paid")
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: not v.needs_attention
    )
    assert view.attention.reasons == {} and await needs_attention_attribute(handle) is False
