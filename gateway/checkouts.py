"""Merchant API for Payment Assist checkouts: start or join, read, capture, invoice, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from gateway.auth import Caller, merchant, operator, reader
from gateway.errors import API, NOT_FOUND, ORDER, STARTED, UNREADABLE
from gateway.problems import CheckoutProblem, Problem, ResolutionProblem, ValidationProblem, refusal
from gateway.services import GatewayServices, services
from state.checkout_models import (
    CheckoutRequest,
    CheckoutStarted,
    CheckoutView,
    InvoiceDocument,
    OperatorResolution,
)

router = APIRouter(prefix="/v1/checkouts", tags=["checkouts"], responses=API)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(merchant)],
    responses={**UNREADABLE, 409: {**STARTED[409], "model": CheckoutProblem | Problem}},
)
async def start_checkout(
    request: CheckoutRequest, found: GatewayServices = Depends(services)
) -> CheckoutStarted:
    """Start the order's checkout (or join the existing one) and return the lender's URL."""
    return await found.checkouts.start(request)


@router.get("/{order_id:path}", dependencies=[Depends(reader)], responses=NOT_FOUND)
async def get_checkout(order_id: str, found: GatewayServices = Depends(services)) -> CheckoutView:
    """The checkout's whole state."""
    return await found.checkouts.get(order_id)


@router.post("/{order_id:path}/capture", dependencies=[Depends(merchant)], responses=ORDER)
async def capture_checkout(
    order_id: str, found: GatewayServices = Depends(services)
) -> CheckoutView:
    """Capture an application that waits in `pending_capture`."""
    return await found.checkouts.capture(order_id)


@router.post(
    "/{order_id:path}/invoice", dependencies=[Depends(merchant)], responses={**ORDER, **UNREADABLE}
)
async def upload_invoice(
    order_id: str, document: InvoiceDocument, found: GatewayServices = Depends(services)
) -> CheckoutView:
    """Supply the invoice the lender needs before it pays out."""
    return await found.checkouts.upload_invoice(order_id, document)


@router.post("/{order_id:path}/cancel", dependencies=[Depends(merchant)], responses=ORDER)
async def cancel_checkout(
    order_id: str, found: GatewayServices = Depends(services)
) -> CheckoutView:
    """Cancel a checkout that has not completed."""
    return await found.checkouts.cancel(order_id)


@router.post(
    "/{order_id:path}/resolve",
    responses={
        **ORDER,
        **UNREADABLE,
        422: refusal(
            "the request does not match the schema, or the token does not match this checkout "
            "or is held by another (`resolution_refused`, with its `reason`)",
            ResolutionProblem | ValidationProblem,
        ),
    },
)
async def resolve_checkout(
    order_id: str,
    resolution: OperatorResolution,
    found: GatewayServices = Depends(services),
    who: Caller = Depends(operator),
) -> CheckoutView:
    """Operator: attach a lost application's token (checked with `/status`), or close it."""
    return await found.checkouts.resolve(order_id, resolution.by(who.name))
