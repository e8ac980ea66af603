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

from gateway.problems import PROBLEM_JSON
from state.passimpay_models import AddressRequest, InvoiceRequest
from tests.conftest import Stack
from tests.flows.helpers import browser_get, checkout_request, new_order_id, wait_for_status
from tests.flows.test_paymentassist_checkout import NO_WATCH
from workflows.paymentassist_checkout import PaymentAssistCheckout, checkout_workflow_id

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
    await stack.client.get_workflow_handle_for(
        PaymentAssistCheckout.run, checkout_workflow_id(request.order_id)
    ).result()
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
