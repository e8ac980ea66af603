"""Production bounds of the deposit flows on the time-skipping server: a UTXO deposit stuck below
its confirmations is flagged after an hour, failing invoice status checks after five minutes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from payflow.crypto import PassimpayPayments
from payflow.stack import RunningSandbox
from state.deposit_ledger import DepositEvent
from state.passimpay_models import AddressRequest, InvoiceRequest
from tests.flows.helpers import new_order_id
from tests.timeskipping.skip import advance
from workflows.passimpay_address import PassimpayAddress, address_workflow_id
from workflows.passimpay_invoice import PassimpayInvoice, invoice_workflow_id

BTC = 10


async def test_utxo_deposit_stuck_at_one_confirmation_is_flagged_after_the_deadline(
    skipping: tuple[WorkflowEnvironment, str],
    sandbox: RunningSandbox,
) -> None:
    env, task_queue = skipping
    crypto = PassimpayPayments(env.client, task_queue=task_queue)
    order_id = new_order_id("skip-adr")
    await crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC))  # 1 h deadline
    txhash = await sandbox.passimpay.deposit(order_id, Decimal("0.01"))
    handle = env.client.get_workflow_handle_for(PassimpayAddress.run, address_workflow_id(order_id))
    first = DepositEvent(txhash=txhash, payment_id=BTC, amount=Decimal("0.01"), confirmations=1)
    await handle.signal(PassimpayAddress.deposit, first)  # as the gateway would; the second is lost

    await advance(env, timedelta(minutes=50))
    view = await handle.query(PassimpayAddress.state)
    assert view.needs_attention is False and view.status_checks >= 50  # polled meanwhile
    await advance(env, timedelta(minutes=20))
    view = await handle.query(PassimpayAddress.state)
    [deposit] = view.deposits
    assert view.needs_attention is True and "1 of 2 confirmations" in (deposit.flag or "")
    assert view.credited_total == 0


async def test_invoice_status_checks_failing_for_five_minutes_raise_attention(
    skipping: tuple[WorkflowEnvironment, str],
    sandbox: RunningSandbox,
) -> None:
    env, task_queue = skipping
    crypto = PassimpayPayments(env.client, task_queue=task_queue)
    request = InvoiceRequest(order_id=new_order_id("skip-inv"), amount=Decimal("10.00"))
    await crypto.create_invoice(request)
    handle = env.client.get_workflow_handle_for(
        PassimpayInvoice.run, invoice_workflow_id(request.order_id)
    )
    sandbox.passimpay.faults.fail_next("/v3/orderstatus", "503", times=1_000_000)
    try:
        await advance(env, timedelta(minutes=4))
        assert (await handle.query(PassimpayInvoice.state)).needs_attention is False
        await advance(env, timedelta(minutes=3))
        view = await handle.query(PassimpayInvoice.state)
        assert view.needs_attention is True and "status_checks" in view.attention
    finally:
        sandbox.passimpay.faults.clear()
    await advance(env, timedelta(minutes=2))
    view = await handle.query(PassimpayInvoice.state)
    assert view.needs_attention is False and view.status == "awaiting_payment"


async def test_day_long_top_up_window_ends_with_production_polling(
    skipping: tuple[WorkflowEnvironment, str],
    sandbox: RunningSandbox,
) -> None:
    """Hundreds of polls (every 2 minutes for a day) must not lose when the window began."""
    env, task_queue = skipping
    crypto = PassimpayPayments(env.client, task_queue=task_queue)
    request = InvoiceRequest(
        order_id=new_order_id("skip-day"),
        amount=Decimal("50.00"),
        partial_policy="wait_for_top_up",
        top_up_wait_seconds=86_400,
        late_deposit_window_seconds=0,
    )
    await crypto.create_invoice(request)
    await sandbox.passimpay.pay(request.order_id, amount=Decimal("20.00"))
    sandbox.passimpay.expire_invoice(request.order_id)
    handle = env.client.get_workflow_handle_for(
        PassimpayInvoice.run, invoice_workflow_id(request.order_id)
    )
    await advance(env, timedelta(days=1, hours=1))
    view = await handle.query(PassimpayInvoice.state)
    assert view.status == "credited_partial" and view.status_checks > 200
    expired = next(e.at for e in view.lifecycle.journal if e.target == "expired_partial")
    assert (view.lifecycle.journal[-1].at - expired).total_seconds() >= 86_400
