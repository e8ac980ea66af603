"""A repeated start joins the order's payment only on the same terms: other terms answer 409
`different_terms` naming what differs, while the payment runs and after it has ended, and no
start leaves an unread failure behind for asyncio to log."""

from __future__ import annotations

import gc
import logging
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from gateway.problems import PROBLEM_JSON
from payflow.checkouts import PaymentAssistCheckouts
from payflow.workflow_calls import TermsConflict
from state.passimpay_models import AddressRequest, InvoiceRequest
from tests.conftest import Stack
from tests.flows.helpers import browser_get, checkout_request, new_order_id, wait_for_status
from tests.flows.test_paymentassist_checkout import NO_WATCH
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3, checkout_workflow_id
from workflows.paymentassist_checkout_v1 import PaymentAssistCheckout

USDT_TRC20 = 70
TRON_USDT = 71


def conflict(response: httpx.Response, *named: str) -> None:
    """A 409 problem that names each of `named`."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["code"] == "different_terms", body
    assert all(name in body["detail"] for name in named), body["detail"]


@pytest.fixture
def asyncio_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR, logger="asyncio")
    return caplog


def never_retrieved(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What asyncio logged about futures whose failure nobody read (once they are collected)."""
    gc.collect()
    return [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]


async def post(stack: Stack, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        return await http.post(path, json=body)


async def test_a_running_checkout_is_joined_only_on_the_same_terms(
    stack: Stack, asyncio_log: pytest.LogCaptureFixture
) -> None:
    body = checkout_request(auto_capture=False).model_dump(mode="json")
    first = await post(stack, "/v1/checkouts", body)
    assert first.status_code == 201
    conflict(await post(stack, "/v1/checkouts", {**body, "amount": 100}), "amount_pence", "100")
    conflict(await post(stack, "/v1/checkouts", {**body, "capture": "on_request"}), "capture")
    same = await post(stack, "/v1/checkouts", body)
    assert same.status_code == 201 and same.json()["token"] == first.json()["token"]
    assert never_retrieved(asyncio_log) == []
    await stack.checkouts.cancel(body["order_id"])  # no polling left behind for other tests


async def test_an_ended_checkout_is_not_answered_for_other_terms(
    stack: Stack, asyncio_log: pytest.LogCaptureFixture
) -> None:
    request = checkout_request(timing=NO_WATCH)
    started = await stack.checkouts.start(request)
    await browser_get(await stack.sandbox.paymentassist.decide(started.token, "approve"))
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    handle = stack.client.get_workflow_handle_for(
        PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
    )
    await handle.result()
    assert not await (await handle.describe()).memo()  # the terms are read from its input
    body = request.model_dump(mode="json")
    conflict(await post(stack, "/v1/checkouts", {**body, "amount": 100}), "amount_pence")
    again = await post(stack, "/v1/checkouts", body)
    assert again.status_code == 201 and again.json()["status"] == "completed"
    assert never_retrieved(asyncio_log) == []


async def test_invoices_and_addresses_are_joined_only_on_the_same_terms(
    stack: Stack, asyncio_log: pytest.LogCaptureFixture
) -> None:
    invoice = InvoiceRequest(order_id=new_order_id("inv"), amount=Decimal("100.00"))
    body = invoice.model_dump(mode="json")
    assert (await post(stack, "/v1/crypto/invoices", body)).status_code == 201
    conflict(await post(stack, "/v1/crypto/invoices", {**body, "amount": "90.00"}), "amount")
    assert (await post(stack, "/v1/crypto/invoices", body)).status_code == 201
    address = AddressRequest(order_id=new_order_id("addr"), payment_id=USDT_TRC20)
    body = address.model_dump(mode="json")
    assert (await post(stack, "/v1/crypto/addresses", body)).status_code == 201
    other = {**body, "payment_id": TRON_USDT}
    conflict(await post(stack, "/v1/crypto/addresses", other), "payment_id")
    assert never_retrieved(asyncio_log) == []
    await stack.crypto.close_address(address.order_id)


async def test_a_checkout_starts_with_its_request_once_and_no_memo(stack: Stack) -> None:
    """The SDK keeps a run's first activation for the run's whole life: a checkout's input is
    its request (and no carried state), its `begin` update is sent the terms (not the
    customer), no memo; the Temporal UI's details still show the terms."""
    request = checkout_request()
    await stack.checkouts.start(request)
    handle = stack.client.get_workflow_handle(checkout_workflow_id(request.order_id))
    events = [event async for event in handle.fetch_history_events()]
    started = events[0].workflow_execution_started_event_attributes
    request_sent, carried = await stack.client.data_converter.decode(started.input.payloads)
    assert request_sent["order_id"] == request.order_id and carried is None
    assert not started.memo.fields
    [accepted] = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    [sent] = await stack.client.data_converter.decode(accepted.input.args.payloads)
    assert sent == request.terms().model_dump(mode="json")
    person = request.customer
    assert not [word for word in (person.email, person.f_name, person.s_name) if word in str(sent)]
    details = await (await handle.describe()).static_details()
    assert details is not None and f"**amount_pence:** {request.amount}" in details
    await stack.checkouts.cancel(request.order_id)


async def test_a_checkout_of_the_type_before_is_joined_with_its_whole_request(
    stack: Stack, asyncio_log: pytest.LogCaptureFixture
) -> None:
    """A checkout started as `PaymentAssistCheckout` (before V2) reads only a whole request in
    `begin`: a repeated start joins it with one, and still only on the same terms, while it
    runs and (read from its memo) once it has ended."""
    request = checkout_request(auto_capture=False)
    handle = await stack.client.start_workflow(
        PaymentAssistCheckout.run,
        args=[request, None],
        id=checkout_workflow_id(request.order_id),
        task_queue=stack.settings.task_queue,
        memo=request.summary(),
    )
    checkouts: PaymentAssistCheckouts = stack.checkouts
    joined = await checkouts.start(request)
    assert joined.token == (await checkouts.get(request.order_id)).token
    with pytest.raises(TermsConflict, match="amount_pence"):
        await checkouts.start(request.model_copy(update={"amount": 100}))
    again = await checkouts.start(request)
    assert again.token == joined.token
    assert (await handle.describe()).workflow_type == "PaymentAssistCheckout"
    await checkouts.cancel(request.order_id)
    await handle.result()
    with pytest.raises(TermsConflict, match="amount_pence"):
        await checkouts.start(request.model_copy(update={"amount": 100}))
    ended = await checkouts.start(request)
    assert ended.token == joined.token and ended.status == "cancelled"
    assert never_retrieved(asyncio_log) == []
