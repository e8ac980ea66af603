"""Open flows survive a restart of the sandbox: a new one on the same state dir and port carries on.

The session's sandbox cannot be restarted, so this test runs its own (on a state dir) with its
own worker and gateway, on the session's Temporal dev server.
"""

from __future__ import annotations

import contextlib
import uuid
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client

from ledger.store import Ledger
from payflow.checkouts import PaymentAssistCheckouts
from payflow.crypto import PassimpayPayments
from payflow.documents import DocumentStore
from payflow.http_server import free_port
from payflow.settings import PayflowSettings
from payflow.stack import RunningSandbox, running_sandbox
from state.passimpay_models import InvoiceRequest, InvoiceTiming
from tests.conftest import PROVIDER_TIMEOUT_SECONDS
from tests.flows.helpers import (
    browser_get,
    checkout_request,
    eventually,
    new_order_id,
    wait_for_status,
)
from tests.payload_keys import CODEC
from worker import running_on_sandbox

SLOW = InvoiceTiming(active_poll_seconds=120, idle_poll_seconds=120)


def _sandbox(
    port: int, settings: PayflowSettings
) -> contextlib.AbstractAsyncContextManager[RunningSandbox]:
    """One incarnation of the sandbox: always the same port and state dir."""
    return running_sandbox(
        port=port,
        passimpay_callback_url=f"{settings.public_url}/webhooks/passimpay",
        retry_delay=0.1,
        state_dir=settings.state_dir,
    )


async def test_open_checkout_and_invoice_carry_on_after_a_sandbox_restart(
    client: Client, settings: PayflowSettings, session_ledger: Ledger, tmp_path: Path
) -> None:
    gateway_port, queue = free_port(), f"payflow-restart-{uuid.uuid4().hex[:8]}"
    mine = settings.model_copy(
        update={
            "task_queue": queue,
            "withdrawal_task_queue": f"{queue}-withdrawals",
            "gateway_port": gateway_port,
            "public_url": f"http://127.0.0.1:{gateway_port}",
            "state_dir": str(tmp_path),
            "database_url": settings.ledger_url(),  # the session's ledger, at this schema
        }
    )
    checkouts = PaymentAssistCheckouts(
        client,
        task_queue=queue,
        public_url=mine.public_url,
        documents=DocumentStore.under(mine.state_dir),
    )
    crypto = PassimpayPayments(client, task_queue=queue)
    checkout = checkout_request()
    invoice = InvoiceRequest(order_id=new_order_id("inv"), amount=Decimal("100.00"), timing=SLOW)
    port = free_port()

    async with contextlib.AsyncExitStack() as first_sandbox:
        first = await first_sandbox.enter_async_context(_sandbox(port, mine))
        async with running_on_sandbox(
            client, mine, first, timeout_seconds=PROVIDER_TIMEOUT_SECONDS, codec=CODEC
        ):
            started = await checkouts.start(checkout)
            await crypto.create_invoice(invoice)
            await first.passimpay.pay(invoice.order_id, amount=Decimal("40.00"))
            await eventually(
                lambda: crypto.get_invoice(invoice.order_id),
                lambda view: view.status == "partially_paid",
            )
            await first_sandbox.aclose()  # the sandbox stops; the worker and gateway stay

            async with _sandbox(port, mine) as second:
                assert second.paymentassist.application(started.token).status == "pending"
                redirect = await second.paymentassist.decide(started.token, "approve")
                await browser_get(redirect)
                await second.passimpay.pay(invoice.order_id)  # the remaining 60.00

                view = await wait_for_status(checkouts, checkout.order_id, "completed")
                assert view.token == started.token
                paid = await eventually(
                    lambda: crypto.get_invoice(invoice.order_id),
                    lambda view: view.status == "paid",
                )
                assert paid.provider.amount_paid == Decimal("100.00")
                assert len(paid.deposits) == 2
                await second.paymentassist.wait_idle()
                await second.passimpay.wait_idle()
