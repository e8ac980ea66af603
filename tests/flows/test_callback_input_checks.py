"""Signed Passimpay callbacks with impossible values: 400 naming the field, kept in the operators'
inbox, never signalled to a payment's workflow, logged without secrets."""

from __future__ import annotations

import hashlib
import logging
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio

from providers.passimpay.signing import encode_body, signature
from state.deposit_ledger import DepositEvent
from state.passimpay_models import AddressRequest, AddressTiming, InvoiceRequest, UnmatchedCallback
from tests.conftest import Stack
from tests.flows.helpers import eventually, new_order_id
from workflows.passimpay_address import PassimpayAddress, address_workflow_id

PLATFORM = 50
KEY = "sandbox-passimpay-key"
USDT_TRC20 = 70
TRON_ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
QUICK = AddressTiming(confirm_poll_seconds=0.2, confirm_deadline_seconds=30)


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _clear_faults(stack: Stack):  # type: ignore[no-untyped-def]
    stack.sandbox.passimpay.faults.clear()
    yield
    await stack.sandbox.passimpay.wait_idle()


def signed(payload: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = encode_body(payload, escape_slashes=True)
    headers = {"content-type": "application/json", "x-signature": signature(PLATFORM, body, KEY)}
    return body, headers


def deposit_payload(order_id: str, **changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "12.5",
        "txhash": f"0x{order_id}",
        "addressFrom": "TXsender",
        "confirmations": 1,
    }
    return {**payload, **changes}


async def post(stack: Stack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        return await http.post("/webhooks/passimpay", content=body, headers=headers)


async def in_inbox(stack: Stack, body: bytes) -> UnmatchedCallback:
    key = hashlib.sha256(body).hexdigest()
    items = await eventually(stack.crypto.unmatched, lambda found: any(i.key == key for i in found))
    [item] = [i for i in items if i.key == key]
    await stack.crypto.acknowledge_unmatched(key)
    return item


IMPOSSIBLE = [
    pytest.param({"amount": "-5"}, "amount", "not positive", id="negative-amount"),
    pytest.param({"amount": "0"}, "amount", "not positive", id="zero-amount"),
    pytest.param({"amount": "0.000"}, "amount", "not positive", id="zero-with-decimals"),
    pytest.param({"amount": True}, "amount", "decimal string or number", id="boolean-amount"),
    pytest.param({"amount": -12.5}, "amount", "not positive", id="negative-number"),
    pytest.param({"amount": "1E+400"}, "amount", "not a plain decimal", id="huge-exponent"),
    pytest.param({"amount": "NaN"}, "amount", "not a plain decimal", id="nan"),
    pytest.param({"amount": "Infinity"}, "amount", "not a plain decimal", id="infinity"),
    pytest.param({"amount": "9" * 31}, "amount", "digits", id="unbounded-amount"),
    pytest.param({"confirmations": -3}, "confirmations", "greater than or equal to 0", id="neg"),
    pytest.param({"confirmations": 1.5}, "confirmations", "whole number", id="fraction-conf"),
    pytest.param({"txhash": ""}, "txhash", "txhash must be", id="empty-txhash"),
    pytest.param({"txhash": "0x a"}, "txhash", "without spaces", id="txhash-with-space"),
    pytest.param({"paymentId": 999_999}, "paymentId", "currency list", id="unknown-currency"),
    pytest.param({"paymentId": -1}, "paymentId", "greater than 0", id="negative-payment-id"),
]


@pytest.mark.parametrize(("change", "field", "why"), IMPOSSIBLE)
async def test_impossible_deposit_values_are_refused_and_kept(
    stack: Stack, change: dict[str, object], field: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = new_order_id("odd")
    await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=QUICK)
    )
    body, headers = signed(deposit_payload(order_id, **change))
    with caplog.at_level(logging.INFO, logger="payflow.gateway.passimpay"):
        reply = await post(stack, body, headers)
    assert reply.status_code == 400, reply.text
    answer = reply.json()
    assert answer["code"] == "bad_callback" and answer["outcome"] == "kept_for_operator"
    assert answer["fields"] == [field] and why in answer["detail"]
    item = await in_inbox(stack, body)
    assert item.kind == "deposit" and item.order_id == order_id and why in item.reason
    view = await stack.crypto.get_address(order_id)
    assert view.deposits == [] and view.credited_total == 0 and not view.needs_attention
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused" in logged and field in logged
    assert headers["x-signature"] not in logged and KEY not in logged
    assert body.decode() not in logged


async def test_impossible_values_for_an_invoice_are_refused(stack: Stack) -> None:
    order_id = new_order_id("inv")
    await stack.crypto.create_invoice(InvoiceRequest(order_id=order_id, amount=Decimal("100.00")))
    body, headers = signed(deposit_payload(order_id, amount="-100"))
    reply = await post(stack, body, headers)
    assert reply.status_code == 400 and reply.json()["fields"] == ["amount"]
    assert (await in_inbox(stack, body)).order_id == order_id
    assert (await stack.crypto.get_invoice(order_id)).deposits == []


async def test_unreadable_verified_callbacks_are_refused_and_kept(stack: Stack) -> None:
    body = b'{"platformId": 50, "orderId": "x", '
    headers = {"content-type": "application/json", "x-signature": signature(PLATFORM, body, KEY)}
    reply = await post(stack, body, headers)
    assert reply.status_code == 400 and "not JSON" in reply.json()["detail"]
    assert (await in_inbox(stack, body)).reason.endswith("body: not JSON")


async def test_deposit_to_another_address_is_refused_and_kept(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    opened = await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=QUICK)
    )
    assert opened.address != TRON_ADDRESS
    body, headers = signed(deposit_payload(order_id, addressTo=TRON_ADDRESS))
    reply = await post(stack, body, headers)
    assert reply.status_code == 400 and reply.json()["fields"] == ["addressTo"]
    assert "not the address assigned" in reply.json()["detail"]
    item = await in_inbox(stack, body)
    assert item.deposit is not None and item.deposit.address_to == TRON_ADDRESS
    assert (await stack.crypto.get_address(order_id)).deposits == []
    # the address itself still works: a real deposit (to our address) is credited
    await sim.deposit(order_id, Decimal("7"))
    view = await eventually(
        lambda: stack.crypto.get_address(order_id), lambda v: v.credited_total == Decimal("7")
    )
    assert [d.address_to for d in view.deposits] == [opened.address]


async def test_workflow_holds_a_deposit_to_another_address(stack: Stack) -> None:
    """Past the gateway (a signal straight to the workflow), a foreign deposit is flagged and
    never credited, even when the provider's total would cover it."""
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=QUICK)
    )
    handle = stack.client.get_workflow_handle_for(
        PassimpayAddress.run, address_workflow_id(order_id)
    )
    foreign = DepositEvent(
        txhash="0xforeign",
        payment_id=USDT_TRC20,
        amount=Decimal("10"),
        confirmations=1,
        address_to=TRON_ADDRESS,
    )
    await handle.signal(PassimpayAddress.deposit, foreign)
    await sim.deposit(order_id, Decimal("10"))
    view = await eventually(
        lambda: stack.crypto.get_address(order_id), lambda v: v.credited_total == Decimal("10")
    )
    held = view.ledger.entries[f"{USDT_TRC20}:0xforeign"]
    assert held.held and not held.credited and "not the address assigned" in (held.flag or "")
    assert view.needs_attention
    assert [d.txhash for d in view.deposits if d.credited] != ["0xforeign"]


WITHDRAW_IMPOSSIBLE = [
    pytest.param({"amount": "-1"}, "amount", id="negative-amount"),
    pytest.param({"feeNetwork": "NaN"}, "feeNetwork", id="nan-fee"),
    pytest.param({"confirmations": -3}, "confirmations", id="negative-confirmations"),
    pytest.param({"txhash": ""}, "txhash", id="empty-txhash"),
    pytest.param({"paymentId": 999_999}, "paymentId", id="unknown-currency"),
    pytest.param({"approve": 7}, "approve", id="unknown-approve"),
]


@pytest.mark.parametrize(("change", "field"), WITHDRAW_IMPOSSIBLE)
async def test_impossible_withdraw_callbacks_are_refused_and_kept(
    stack: Stack, change: dict[str, object], field: str
) -> None:
    order_id = new_order_id("wd")
    payload: dict[str, object] = {
        "platformId": PLATFORM,
        "approve": 1,
        "transactionId": "tx-1",
        "orderId": order_id,
        "paymentId": USDT_TRC20,
        "addressTo": TRON_ADDRESS,
        "amount": "12.5",
        "txhash": "0xpaid",
        "confirmations": 1,
        "feeNetwork": "1",
        **change,
    }
    body, headers = signed(payload)
    reply = await post(stack, body, headers)
    assert reply.status_code == 400, reply.text
    assert field in reply.json()["detail"]
    item = await in_inbox(stack, body)
    assert item.kind == "withdrawal" and item.order_id == order_id
