"""What operators see in the Temporal UI: a summary from the start, the current details of a
flow (status, what it waits for, why it needs attention), and a description on every handler."""

from __future__ import annotations

import pytest
from temporalio import workflow
from temporalio.api.sdk.v1 import WorkflowMetadata

from tests.conftest import Stack
from tests.flows.helpers import checkout_request
from worker import WORKFLOWS
from workflows.passimpay_withdraw_gate import PassimpayWithdrawGate
from workflows.paymentassist_checkout import checkout_workflow_id


@pytest.mark.parametrize("cls", [*WORKFLOWS, PassimpayWithdrawGate], ids=lambda c: c.__name__)
def test_every_query_signal_and_update_is_described(cls: type) -> None:
    definition = workflow._Definition.must_from_class(cls)
    handlers = [*definition.queries.values(), *definition.signals.values()]
    handlers += list(definition.updates.values())
    undescribed = [h.name for h in handlers if not h.description]
    assert handlers and undescribed == []


async def test_checkout_shows_summary_and_current_details(stack: Stack) -> None:
    request = checkout_request()
    await stack.checkouts.start(request)
    handle = stack.client.get_workflow_handle(checkout_workflow_id(request.order_id))
    described = await handle.describe()
    assert await described.static_summary() == f"paymentassist order {request.order_id}"
    details = await described.static_details()
    assert details is not None and "**amount_pence:** 49900" in details
    assert "Ada" not in details and "ada@example.com" not in details  # no personal data

    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "**Status:** awaiting_customer" in metadata.current_details
    assert "the customer, on the lender's page" in metadata.current_details
    queries = {q.name: q.description for q in metadata.definition.query_definitions}
    assert queries["state"]
    await stack.checkouts.cancel(request.order_id)
