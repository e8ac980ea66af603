"""Customer returns and webhooks from Payment Assist: verify, then signal the checkout."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from gateway.pages import customer_page
from gateway.services import GatewayServices, services
from payflow.workflow_calls import PaymentConflict, PaymentNotFound
from providers.paymentassist.signing import verify_return, verify_webhook
from state.checkout_models import CustomerReturn, WebhookHint

MAX_WEBHOOK_BYTES = 64 * 1024

router = APIRouter(tags=["paymentassist callbacks"])


@router.get("/return/paymentassist", response_model=None)
async def customer_return(
    order_id: str = Query(min_length=1, max_length=255),
    token: str = Query(default=""),
    status: str = Query(default=""),
    signature: str = Query(default=""),
    found: GatewayServices = Depends(services),
) -> Response:
    """The signature covers only the appended token and status; our order_id is not part of it."""
    secret = found.paymentassist_secret.get_secret_value()
    if not verify_return(token, status, signature, secret):
        return customer_page("Link not valid", "This return link could not be verified.", 401)
    try:
        await found.checkouts.customer_returned(
            order_id, CustomerReturn(token=token, status=status)
        )
    except PaymentNotFound:
        return customer_page("Order not found", "We do not know this order.", 404)
    except PaymentConflict:
        pass  # the checkout has already ended; the customer still deserves a page
    outcome = "success" if status == "success" else "failed"
    if found.return_redirect_url:
        separator = "&" if "?" in found.return_redirect_url else "?"
        query = urlencode({"order_id": order_id, "outcome": outcome})
        return RedirectResponse(f"{found.return_redirect_url}{separator}{query}", status_code=303)
    if outcome == "success":
        return customer_page("Thank you", "We are confirming your finance with the lender.")
    return customer_page("Finance not completed", "Your application did not go through.")


@router.post("/webhooks/paymentassist")
async def webhook(
    request: Request,
    order_id: str = Query(min_length=1, max_length=255),
    found: GatewayServices = Depends(services),
) -> JSONResponse:
    """Answer 200 only once the checkout has the signal; a bad signature changes nothing."""
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        return JSONResponse({"error": "too_large"}, status_code=413)
    try:
        payload = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "not_json"}, status_code=400)
    secret = found.paymentassist_secret.get_secret_value()
    if not isinstance(payload, dict) or not verify_webhook(payload, secret):
        return JSONResponse({"error": "bad_signature"}, status_code=401)
    event_data = payload.get("event_data")
    token = event_data.get("token") if isinstance(event_data, dict) else None
    if not isinstance(token, str):
        return JSONResponse({"error": "no_token"}, status_code=400)
    hint = WebhookHint(
        token=token,
        event_name=str(payload.get("event_name", "")),
        event_time=str(payload.get("event_time", "")) or None,
    )
    try:
        await found.checkouts.webhook_received(order_id, hint)
    except PaymentNotFound:
        return JSONResponse({"error": "unknown_order"}, status_code=404)
    except PaymentConflict:
        return JSONResponse({"status": "already_ended"})
    return JSONResponse({"status": "accepted"})
