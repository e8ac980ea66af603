"""Customers' personal data never sits in clear in Temporal: raw histories, memo and search
attributes hold none of it, and the gateway's codec endpoint opens it for operators only."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import Any

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import WorkflowHandle

from payflow.temporal_client import connect
from state.passimpay_models import InvoiceRequest
from tests.conftest import Stack
from tests.flows.helpers import checkout_request, customer, new_order_id
from workflows.passimpay_invoice import invoice_workflow_id
from workflows.paymentassist_checkout import checkout_workflow_id

PERSON = {
    "f_name": "Ottoline",
    "s_name": "Featherstonehaugh",
    "email": "ottoline.f@example.org",
    "addr1": "17 Quillfeather Lane",
    "postcode": "QF1 7QL",
    "telephone": "07700900123",
}
CLEAR = ["Ottoline", "Featherstonehaugh", "ottoline.f@example.org", "Quillfeather", "07700900123"]


async def as_stored(handle: WorkflowHandle[Any, Any]) -> str:
    """The history as Temporal stores it: every payload's bytes as text, nothing opened."""
    raw = (await handle.fetch_history()).to_json()
    payloads = re.findall(r'"data": "([A-Za-z0-9+/=]+)"', raw)
    return raw + "".join(base64.b64decode(p).decode("utf-8", errors="replace") for p in payloads)


async def test_raw_histories_hold_no_personal_data_and_the_codec_opens_them_for_operators(
    stack: Stack,
) -> None:
    checkout = checkout_request(customer=customer(**PERSON), description="for Ottoline")
    await stack.checkouts.start(checkout)
    invoice = InvoiceRequest(
        order_id=new_order_id("inv-pii"),
        amount=Decimal("10.00"),
        first_name="Ottoline",
        last_name="Featherstonehaugh",
        email="ottoline.f@example.org",
        phone_no="07700900123",
    )
    await stack.crypto.create_invoice(invoice)

    plain = await connect(stack.client.service_client.config.target_host)  # no key at all
    raw: list[str] = []
    for workflow_id in (
        checkout_workflow_id(checkout.order_id),
        invoice_workflow_id(invoice.order_id),
    ):
        handle = plain.get_workflow_handle(workflow_id)
        text = await as_stored(handle)
        assert not [word for word in CLEAR if word in text], workflow_id
        described = await handle.describe()
        info = described.raw_description.workflow_execution_info
        visible = str(info.memo) + str(info.search_attributes)  # as stored, bytes and all
        assert not [word for word in CLEAR if word in visible], visible
        raw.append((await handle.fetch_history()).to_json())
        memo = await stack.client.get_workflow_handle(workflow_id).describe()
        opened_memo = str(await memo.memo())  # even opened, the memo is ids and amounts
        assert not [word for word in [*CLEAR, "for Ottoline"] if word in opened_memo], opened_memo

    inputs = [
        json.loads(history)["events"][0]["workflowExecutionStartedEventAttributes"]["input"]
        for history in raw
    ]
    body = {"payloads": inputs[0]["payloads"]}
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        opened = await http.post("/codec/decode", json=body, headers=stack.operator)
        anonymous = await http.post("/codec/decode", json=body)
        merchant = await http.post("/codec/decode", json=body, headers=stack.merchant)
        lower = {"Authorization": stack.operator["Authorization"].replace("Bearer", "bearer")}
        invoice_opened = await http.post(
            "/codec/decode", json={"payloads": inputs[1]["payloads"]}, headers=lower
        )
        origin = stack.settings.temporal_ui_origins()[0]
        preflight = await http.options(
            "/codec/decode",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
    assert opened.status_code == 200, opened.text
    decoded = json_format.ParseDict(opened.json(), Payloads())
    text = "".join(payload.data.decode() for payload in decoded.payloads)
    assert all(word in text for word in CLEAR if word != "Quillfeather") and "Quillfeather" in text
    assert anonymous.status_code == 401 and merchant.status_code == 403
    assert invoice_opened.status_code == 200, invoice_opened.text
    invoice_text = "".join(
        payload.data.decode()
        for payload in json_format.ParseDict(invoice_opened.json(), Payloads()).payloads
    )
    assert all(word in invoice_text for word in CLEAR if word != "Quillfeather")  # no address
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert re.search(r"authorization", preflight.headers["access-control-allow-headers"], re.I)
