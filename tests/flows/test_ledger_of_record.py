"""The record outlives the workflow: once Temporal deletes a payment's workflow, the same start
starts nothing and asks no provider, `GET` answers the same body from the ledger, and other
terms are still refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from state.ledger_models import LedgerChange, LedgerWrite
from state.passimpay_models import AddressRequest, InvoiceRequest
from tests.conftest import Stack
from tests.flows.helpers import (
    FAST_POLLING,
    browser_get,
    checkout_request,
    eventually,
    new_order_id,
)
from tests.flows.test_passimpay_invoice import FAST as INVOICE_FAST
from tests.flows.test_passimpay_withdrawal import payout
from tests.flows.test_paymentassist_checkout import NO_WATCH
from tests.flows.test_repeated_starts import conflict
from workflows.passimpay_address import address_workflow_id
from workflows.passimpay_invoice import invoice_workflow_id
from workflows.passimpay_withdrawal import withdrawal_workflow_id
from workflows.paymentassist_checkout import checkout_workflow_id

BTC = 10


async def delete_workflow(stack: Stack, workflow_id: str) -> None:
    """Delete a closed workflow through Temporal's API, as retention does, and wait until
    Temporal no longer knows it."""
    handle = stack.client.get_workflow_handle(workflow_id)
    await stack.client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=stack.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )

    async def gone() -> bool:
        try:
            await handle.describe()
        except RPCError as error:
            return error.status == RPCStatusCode.NOT_FOUND
        return False

    await eventually(gone, bool, timeout=30)


def calls_naming(journal: Iterable[tuple[str, str | None]], *names: str) -> int:
    """Calls the simulator received for this order (by its order id or its token)."""
    return sum(1 for _, named in journal if named in names)


async def call(stack: Stack, method: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        return await http.request(method, path, json=body)


async def outlives_retention(
    stack: Stack,
    kind: str,
    *,
    start_path: str,
    read_path: str,
    body: dict[str, Any],
    other_terms: dict[str, Any],
    workflow_id: str,
    provider_calls: Callable[[], int],
    finish: Callable[[], Awaitable[None]],
) -> None:
    """Start, finish, delete the workflow, then repeat the start and the read."""
    first = await call(stack, "POST", start_path, body)
    assert first.status_code == 201, first.text
    await finish()
    await stack.client.get_workflow_handle(workflow_id).result()
    before = await call(stack, "GET", read_path)
    assert before.status_code == 200
    await delete_workflow(stack, workflow_id)
    calls = provider_calls()

    again = await call(stack, "POST", start_path, body)
    after = await call(stack, "GET", read_path)

    assert again.status_code == 201, again.text
    assert after.status_code == 200 and after.json() == before.json()
    conflict(await call(stack, "POST", start_path, {**body, **other_terms}), *other_terms)
    assert calls > 0  # the journal saw the flow's own calls
    assert provider_calls() == calls  # no /begin, /createorder, address or /withdraw again
    try:
        await stack.client.get_workflow_handle(workflow_id).describe()
        raise AssertionError("a new workflow was started")
    except RPCError as error:
        assert error.status == RPCStatusCode.NOT_FOUND
    record = await stack.ledger.payment(kind, body["order_id"])
    assert record is not None and record.closed
    assert again.json()["status"] == before.json()["status"]


async def test_a_checkout_outlives_its_workflow(stack: Stack) -> None:
    request = checkout_request(timing=NO_WATCH)
    lender = stack.sandbox.paymentassist

    tokens: list[str] = []

    async def approve() -> None:
        view = await stack.checkouts.get(request.order_id)
        assert view.token is not None
        tokens.append(view.token)
        await browser_get(await lender.decide(view.token, "approve"))

    await outlives_retention(
        stack,
        "checkout",
        start_path="/v1/checkouts",
        read_path=f"/v1/checkouts/{request.order_id}",
        body=request.model_dump(mode="json"),
        other_terms={"amount": 100},
        workflow_id=checkout_workflow_id(request.order_id),
        provider_calls=lambda: calls_naming(lender.journal, request.order_id, *tokens),
        finish=approve,
    )
    entries = await stack.ledger.entries_of("checkout", request.order_id)
    funded = [e for e in entries if e["type"] == "checkout.funded"]
    assert len(funded) == 1 and funded[0]["amount"] == Decimal(request.amount) / 100


async def test_an_invoice_outlives_its_workflow(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = InvoiceRequest(
        order_id=new_order_id("inv"),
        amount=Decimal("100.00"),
        timing=INVOICE_FAST,
        late_deposit_window_seconds=0,
    )

    async def pay() -> None:
        await sim.pay(request.order_id)
        await sim.wait_idle()

    await outlives_retention(
        stack,
        "invoice",
        start_path="/v1/crypto/invoices",
        read_path=f"/v1/crypto/invoices/{request.order_id}",
        body=request.model_dump(mode="json"),
        other_terms={"amount": "90.00"},
        workflow_id=invoice_workflow_id(request.order_id),
        provider_calls=lambda: calls_naming(sim.journal, request.order_id),
        finish=pay,
    )
    [paid] = [
        e
        for e in await stack.ledger.entries_of("invoice", request.order_id)
        if e["type"] == "invoice.received"
    ]
    assert (paid["amount"], paid["currency"]) == (Decimal("100.00"), "USD")


async def test_an_address_outlives_its_workflow(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = AddressRequest(order_id=new_order_id("adr"), payment_id=BTC)

    async def deposit_then_close() -> None:
        await sim.deposit(request.order_id, Decimal("0.01"))
        await eventually(
            lambda: stack.crypto.get_address(request.order_id),
            lambda view: view.credited_total == Decimal("0.01"),
            timeout=30,
        )
        await sim.wait_idle()
        await stack.crypto.close_address(request.order_id)

    await outlives_retention(
        stack,
        "address",
        start_path="/v1/crypto/addresses",
        read_path=f"/v1/crypto/addresses/{request.order_id}",
        body=request.model_dump(mode="json"),
        other_terms={"payment_id": 70},
        workflow_id=address_workflow_id(request.order_id),
        provider_calls=lambda: calls_naming(sim.journal, request.order_id),
        finish=deposit_then_close,
    )
    [credited] = [
        e
        for e in await stack.ledger.entries_of("address", request.order_id)
        if e["type"] == "address.credited"
    ]
    assert (credited["amount"], credited["currency"]) == (Decimal("0.01"), f"passimpay:{BTC}")


async def test_a_payout_outlives_its_workflow(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    request = payout()
    workflow_id = withdrawal_workflow_id(request.order_id)

    async def paid() -> None:
        await stack.client.get_workflow_handle(workflow_id).result()

    await outlives_retention(
        stack,
        "withdrawal",
        start_path="/v1/crypto/withdrawals",
        read_path=f"/v1/crypto/withdrawals/{request.order_id}",
        body=request.model_dump(mode="json"),
        other_terms={"amount": "13"},
        workflow_id=workflow_id,
        provider_calls=lambda: calls_naming(sim.journal, request.order_id),
        finish=paid,
    )
    assert sim.payouts[request.order_id] == 1
    [paid_out] = [
        e
        for e in await stack.ledger.entries_of("withdrawal", request.order_id)
        if e["type"] == "withdrawal.paid_out"
    ]
    assert (paid_out["amount"], paid_out["direction"]) == (request.amount, "out")


async def test_payments_are_listed_from_the_ledger(stack: Stack) -> None:
    request = checkout_request(timing=FAST_POLLING)  # its first poll writes the held change
    await stack.checkouts.start(request)
    listed = await eventually(
        lambda: call(stack, "GET", "/v1/payments?kind=checkout&limit=100"),
        lambda r: any(p["order_id"] == request.order_id for p in r.json()["data"]),
        timeout=20,
    )
    [mine] = [p for p in listed.json()["data"] if p["order_id"] == request.order_id]
    assert mine["id"] == f"checkout:{request.order_id}" and mine["status"] == "awaiting_customer"
    unknown = await call(stack, "GET", "/v1/payments?starting_after=checkout:nobody-at-all")
    assert unknown.status_code == 400
    await stack.checkouts.cancel(request.order_id)


async def test_a_quiet_change_waits_for_the_next_write_and_nothing_is_lost(stack: Stack) -> None:
    request = checkout_request(timing=NO_WATCH)  # no poll for two minutes
    started = await stack.checkouts.start(request)
    kept = await stack.ledger.payment("checkout", request.order_id)
    assert kept is not None and kept.status is None  # registered; `awaiting_customer` is held
    await stack.sandbox.paymentassist.decide(started.token, "approve")
    await stack.client.get_workflow_handle(checkout_workflow_id(request.order_id)).result()
    entries = await stack.ledger.entries_of("checkout", request.order_id)
    changes = [(e["version"], e["type"]) for e in entries if e["amount"] is None]
    assert changes == [
        (1, "checkout.created"),
        (2, "checkout.awaiting_customer"),
        (3, "checkout.completed"),
    ]
    assert entries[1]["at"] < entries[2]["at"]  # each change at the time it happened
    kept = await stack.ledger.payment("checkout", request.order_id)
    assert kept is not None and kept.closed and kept.status == "completed"


async def test_payments_page_through_http_with_no_gap_or_repeat_while_written(
    stack: Stack,
) -> None:
    """1 000 payments in the ledger, paged 100 at a time through `GET /v1/payments` while
    another 200 are written: each of the 1 000 exactly once, newest first."""
    status = f"paging-{uuid.uuid4().hex[:8]}"  # this test's payments alone
    at = datetime.now(UTC)

    def written(order_id: str) -> LedgerWrite:
        change = LedgerChange(version=1, at=at, status=status, needs_attention=False)
        return LedgerWrite(
            kind="address",
            provider="passimpay",
            order_id=order_id,
            changes=[change],
            view={"order_id": order_id, "status": status},
        )

    existing = [f"{status}-{n:04d}" for n in range(1000)]
    for first in range(0, len(existing), 250):
        await stack.ledger.record([written(o) for o in existing[first : first + 250]])

    async def keep_writing() -> None:
        for n in range(200):
            await stack.ledger.record([written(f"{status}-new-{n}")])

    writer = asyncio.create_task(keep_writing())
    seen: list[str] = []
    query = f"/v1/payments?status={status}&limit=100"
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=stack.merchant) as http:
        page = (await http.get(query)).json()
        for _ in range(50):
            seen += [item["order_id"] for item in page["data"]]
            if not page["has_more"]:
                break
            after = page["data"][-1]["id"]
            page = (await http.get(f"{query}&starting_after={after}")).json()
    await writer
    mine = set(existing)
    old = [order_id for order_id in seen if order_id in mine]
    assert old == sorted(existing, reverse=True)  # every one, once, newest first
    assert len(seen) == len(set(seen))
