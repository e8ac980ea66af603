"""Order ids over HTTP: every character the API accepts reaches every route; one order id
belongs to one kind of deposit flow (an invoice's and an address's callbacks share it)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import httpx
import pytest

from state.passimpay_models import AddressRequest, AddressTiming, InvoiceRequest
from tests.conftest import Stack
from tests.flows.helpers import checkout_request, new_order_id

USDT_TRC20 = 70
ODD = "/a+b=c:d.e_g-h/"


@pytest.mark.parametrize("spelling", ["escaped", "plain"])
async def test_an_order_id_with_slashes_reaches_every_route(stack: Stack, spelling: str) -> None:
    suffix = ODD if spelling == "plain" else ODD.replace("/", "%2F")
    base = new_order_id("odd")
    invoice, address, checkout, payout = (f"{base}-{k}{ODD}" for k in "iacw")

    def path(order_id: str) -> str:
        return order_id.replace(ODD, suffix) if spelling == "plain" else quote(order_id, safe="")

    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=20) as http:
        started = await http.post(
            "/v1/crypto/invoices",
            headers=stack.merchant,
            json=InvoiceRequest(order_id=invoice, amount=Decimal("10.00")).model_dump(mode="json"),
        )
        assert started.status_code == 201, started.text
        read = await http.get(f"/v1/crypto/invoices/{path(invoice)}", headers=stack.merchant)
        assert read.status_code == 200 and read.json()["order_id"] == invoice

        request = AddressRequest(
            order_id=address, payment_id=USDT_TRC20, timing=AddressTiming(confirm_poll_seconds=1)
        )
        opened = await http.post(
            "/v1/crypto/addresses", headers=stack.merchant, json=request.model_dump(mode="json")
        )
        assert opened.status_code == 201, opened.text
        read = await http.get(f"/v1/crypto/addresses/{path(address)}", headers=stack.merchant)
        assert read.status_code == 200 and read.json()["order_id"] == address
        closed = await http.post(
            f"/v1/crypto/addresses/{path(address)}/close", headers=stack.operator
        )
        assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text

        body = checkout_request(order_id=checkout).model_dump(mode="json")
        begun = await http.post("/v1/checkouts", headers=stack.merchant, json=body)
        assert begun.status_code in (200, 201), begun.text
        read = await http.get(f"/v1/checkouts/{path(checkout)}", headers=stack.merchant)
        assert read.status_code == 200 and read.json()["order_id"] == checkout
        cancelled = await http.post(
            f"/v1/checkouts/{path(checkout)}/cancel", headers=stack.merchant
        )
        assert cancelled.status_code == 200 and cancelled.json()["order_id"] == checkout

        missing = await http.get(f"/v1/crypto/withdrawals/{path(payout)}", headers=stack.merchant)
        assert missing.status_code == 404 and payout in missing.json()["detail"]


async def test_one_order_id_is_an_invoice_or_an_address_never_both(stack: Stack) -> None:
    order_id = new_order_id("shared")
    await stack.crypto.create_invoice(InvoiceRequest(order_id=order_id, amount=Decimal("10.00")))
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=20) as http:
        refused = await http.post(
            "/v1/crypto/addresses",
            headers=stack.merchant,
            json=AddressRequest(order_id=order_id, payment_id=USDT_TRC20).model_dump(mode="json"),
        )
    assert refused.status_code == 409 and refused.json()["code"] == "order_id_in_use"
    assert "already an invoice" in refused.json()["detail"]

    other = new_order_id("shared")
    await stack.crypto.open_address(AddressRequest(order_id=other, payment_id=USDT_TRC20))
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=20) as http:
        refused = await http.post(
            "/v1/crypto/invoices",
            headers=stack.merchant,
            json=InvoiceRequest(order_id=other, amount=Decimal("10.00")).model_dump(mode="json"),
        )
    assert refused.status_code == 409 and "already an address" in refused.json()["detail"]
