"""Invoice documents: checked at the door (type, base64, size), stored once outside Temporal,
uploaded from the activity; the checkout's history holds only a reference."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError

from payflow.documents import DocumentMissing, DocumentStore
from state.checkout_models import MAX_INVOICE_BYTES, InvoiceDocument, InvoiceReference
from tests.conftest import Stack
from tests.flows.helpers import browser_get, checkout_request, decoded_history, wait_for_status
from workflows.paymentassist_checkout import checkout_workflow_id


async def completed_needing_invoice(stack: Stack) -> tuple[str, str]:
    sim = stack.sandbox.paymentassist
    request = checkout_request()
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve", requires_invoice=True))
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    return request.order_id, started.token


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"filetype": "exe", "data_base64": "aGVsbG8="}, "Input should be 'pdf'"),
        ({"filetype": "pdf", "data_base64": "not base64!"}, "not valid base64"),
        ({"filetype": "pdf", "data_base64": "aGVsbG8"}, "not valid base64"),  # no padding
        (
            {"filetype": "pdf", "data_base64": "A" * (MAX_INVOICE_BYTES * 4 // 3 + 8)},
            f"larger than the {MAX_INVOICE_BYTES} byte limit",
        ),
        (
            {
                "filetype": "pdf",
                "data_base64": base64.b64encode(b"x" * (MAX_INVOICE_BYTES + 1)).decode(),
            },
            f"larger than the {MAX_INVOICE_BYTES} byte limit",
        ),
    ],
    ids=["bad-type", "bad-base64", "unpadded", "too-long", "too-large-decoded"],
)
async def test_bad_documents_are_refused_with_422(
    stack: Stack, body: dict[str, str], message: str
) -> None:
    order_id, token = await completed_needing_invoice(stack)
    invoices = stack.sandbox.paymentassist.calls["invoice"]
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        reply = await http.post(f"/v1/checkouts/{order_id}/invoice", json=body)
    assert reply.status_code == 422
    assert message in reply.text
    view = await stack.checkouts.get(order_id)
    assert view.status == "completed" and not view.invoice_uploaded
    assert stack.sandbox.paymentassist.calls["invoice"] == invoices
    assert stack.sandbox.paymentassist.application(token).has_invoice is False


async def test_document_is_stored_once_and_kept_out_of_history(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    order_id, token = await completed_needing_invoice(stack)
    content = os.urandom(600_000)  # random: no compression could hide it in the history
    data = base64.b64encode(content).decode()
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        reply = await http.post(
            f"/v1/checkouts/{order_id}/invoice", json={"filetype": "pdf", "data_base64": data}
        )
    assert reply.status_code == 200, reply.text
    await wait_for_status(stack.checkouts, order_id, "invoiced")
    assert sim.application(token).invoice == ("pdf", content)

    digest = hashlib.sha256(content).hexdigest()
    stored = Path(stack.settings.state_dir) / "documents" / digest
    assert stored.read_bytes() == content
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))
    raw = (await handle.fetch_history()).to_json()
    assert len(raw) < 200_000  # the document alone is 800 000 base64 characters
    history = await decoded_history(handle)
    assert data[:64] not in history and data[-64:] not in history
    assert digest in history  # the reference is what travelled


async def test_a_whole_document_never_reaches_the_workflow(stack: Stack) -> None:
    """The update accepts only a reference: bytes sent straight to it are refused."""
    order_id, _ = await completed_needing_invoice(stack)
    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))
    document = InvoiceDocument(filetype="txt", data_base64=base64.b64encode(b"inv").decode())
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("upload_invoice", document)
    assert (await stack.checkouts.get(order_id)).invoice_uploaded is False


def test_store_checks_what_it_reads(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    reference = store.put(b"%PDF-1.4 invoice", "pdf")
    assert store.put(b"%PDF-1.4 invoice", "pdf") == reference  # stored once
    assert store.read(reference) == b"%PDF-1.4 invoice"
    assert stat.S_IMODE((tmp_path / "documents").stat().st_mode) == 0o700
    missing = InvoiceReference(sha256="0" * 64, filetype="pdf", size=3)
    with pytest.raises(DocumentMissing, match="not in the store"):
        store.read(missing)
    (tmp_path / "documents" / reference.sha256).write_bytes(b"%PDF-1.4 tampered")
    with pytest.raises(DocumentMissing, match="damaged"):
        store.read(reference)
