"""Production timings (minutes of polling, day-long windows) on the time-skipping test server."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from payflow.checkouts import PaymentAssistCheckouts
from payflow.crypto import PassimpayPayments
from payflow.stack import RunningSandbox
from state.checkout_models import CheckoutTiming
from state.passimpay_models import InvoiceRequest, InvoiceTiming
from tests.flows.helpers import checkout_request, new_order_id
from tests.timeskipping.skip import advance
from workflows.passimpay_invoice import PassimpayInvoice, invoice_workflow_id
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3, checkout_workflow_id


async def test_checkout_with_production_polling_finds_the_outcome(
    skipping: tuple[WorkflowEnvironment, str], sandbox: RunningSandbox
) -> None:
    env, task_queue = skipping
    sandbox.paymentassist.faults.drop_webhooks()
    try:
        checkouts = PaymentAssistCheckouts(
            env.client, task_queue=task_queue, public_url="http://127.0.0.1:9"
        )
        request = checkout_request(timing=CheckoutTiming())  # 30 s, then every 5 minutes
        started = await checkouts.start(request)
        await sandbox.paymentassist.decide(started.token, "approve")  # return and webhook lost
        handle = env.client.get_workflow_handle_for(
            PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
        )
        await advance(env, timedelta(days=2))  # first polls, then the day-long invoice watch
        view = await handle.query(PaymentAssistCheckoutV3.state)
    finally:
        sandbox.paymentassist.faults.clear()
    assert view.status == "completed" and view.hints == []
    assert view.status_checks >= 24  # requires_invoice re-read hourly while watching
    described = await handle.describe()
    assert described.status is not None and described.status.name == "COMPLETED"


async def test_invoice_top_up_window_and_late_window_pass_in_seconds(
    skipping: tuple[WorkflowEnvironment, str], sandbox: RunningSandbox
) -> None:
    env, task_queue = skipping
    crypto = PassimpayPayments(env.client, task_queue=task_queue)
    request = InvoiceRequest(
        order_id=new_order_id("skip"),
        amount=Decimal("50.00"),
        partial_policy="wait_for_top_up",
        top_up_wait_seconds=86_400,
        late_deposit_window_seconds=86_400,
        timing=InvoiceTiming(idle_poll_seconds=3_600),
    )
    await crypto.create_invoice(request)
    await sandbox.passimpay.pay(request.order_id, amount=Decimal("20.00"))
    sandbox.passimpay.expire_invoice(request.order_id)
    handle = env.client.get_workflow_handle_for(
        PassimpayInvoice.run, invoice_workflow_id(request.order_id)
    )
    await advance(env, timedelta(days=3))  # top-up window, then the late-deposit window
    view = await handle.query(PassimpayInvoice.state)
    assert view.status == "credited_partial" and view.provider.amount_paid == Decimal("20.00")
    waited = (view.lifecycle.journal[-1].at - view.lifecycle.journal[0].at).total_seconds()
    assert waited >= 86_400
    described = await handle.describe()
    assert described.status is not None and described.status.name == "COMPLETED"
