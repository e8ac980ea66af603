"""Payment Assist paths driven against the simulator, so their histories become replay goldens.

Checkouts start as `PaymentAssistCheckoutV3`; the `PaymentAssistCheckout-*` and `V2-*` goldens are older
type's histories, kept and never re-exported."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from payflow.checkouts import CheckoutNotStarted
from state.checkout_models import CheckoutTiming, OperatorResolution
from tests.flows.helpers import browser_get, checkout_request, customer, wait_for_status
from workflows.paymentassist_checkout import checkout_workflow_id
from workflows.paymentassist_token_claim import claim_workflow_id

if TYPE_CHECKING:
    from tests.conftest import Stack

ENDS_AT_COMPLETION = CheckoutTiming(
    active_poll_seconds=120, idle_poll_seconds=120, invoice_watch_seconds=0
)
"""Moves only on hints and ends when completed, so each history stays a few dozen events."""

Exported = dict[str, str]
"""Golden name -> workflow ID."""


async def completed_via_return(stack: Stack) -> Exported:
    """Approved by the customer, confirmed by /status after the signed return."""
    sim = stack.sandbox.paymentassist
    sim.faults.drop_webhooks()
    request = checkout_request(order_id="replay-pa-return", timing=ENDS_AT_COMPLETION)
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    return {"PaymentAssistCheckoutV3-completed-via-return": checkout_workflow_id(request.order_id)}


async def declined_preapproval(stack: Stack) -> Exported:
    """A declined pre-approval ends the checkout without /begin."""
    request = checkout_request(
        order_id="replay-pa-declined", preapproval=True, customer=customer(s_name="Decline")
    )
    with contextlib.suppress(CheckoutNotStarted):  # the expected end of this path
        await stack.checkouts.start(request)
    return {"PaymentAssistCheckoutV3-declined-preapproval": checkout_workflow_id(request.order_id)}


async def lost_begin_resolved(stack: Stack) -> Exported:
    """A lost /begin reply parks the checkout; an operator attaches the token; it completes."""
    sim = stack.sandbox.paymentassist
    sim.faults.fail_next("begin", "lose_response")
    request = checkout_request(order_id="replay-pa-attention", timing=ENDS_AT_COMPLETION)
    with contextlib.suppress(CheckoutNotStarted):  # the expected end of this path
        await stack.checkouts.start(request)
    [application] = sim.applications_for_order(request.order_id)
    await stack.checkouts.resolve(request.order_id, OperatorResolution(token=application.token))
    await sim.decide(application.token, "approve")
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    return {  # a resolution's claim is a child that runs
        "PaymentAssistCheckoutV3-needs-attention-resolved": checkout_workflow_id(request.order_id),
        "PaymentAssistTokenClaim-held": claim_workflow_id(application.token),
    }


async def pending_capture_captured(stack: Stack) -> Exported:
    """Approved without auto-capture, captured on the merchant's request."""
    sim = stack.sandbox.paymentassist
    request = checkout_request(
        order_id="replay-pa-capture",
        auto_capture=False,
        capture="on_request",
        timing=ENDS_AT_COMPLETION,
    )
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))
    await wait_for_status(stack.checkouts, request.order_id, "pending_capture")
    await stack.checkouts.capture(request.order_id)
    return {
        "PaymentAssistCheckoutV3-pending-capture-captured": checkout_workflow_id(request.order_id)
    }


async def cancelled(stack: Stack) -> Exported:
    """Cancelled by the merchant while the customer is away: the application is expired."""
    request = checkout_request(order_id="replay-pa-cancel")
    await stack.checkouts.start(request)
    await stack.checkouts.cancel(request.order_id)
    return {"PaymentAssistCheckoutV3-cancelled": checkout_workflow_id(request.order_id)}


SCENARIOS = [
    completed_via_return,
    declined_preapproval,
    lost_begin_resolved,
    pending_capture_captured,
    cancelled,
]
