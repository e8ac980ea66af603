"""Customer returns and webhooks from Payment Assist: verify, then signal the checkout."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from gateway.errors import INVALID, UNAVAILABLE
from gateway.metrics import count_callback
from gateway.pages import customer_page
from gateway.problems import problem, refusal
from gateway.services import GatewayServices, services
from gateway.shared_waits import NoRoom, SharedWaits
from gateway.shedding import release_slot
from payflow.checkouts import HintNotBound
from payflow.notifications import signed_return_query
from payflow.workflow_calls import PaymentConflict
from providers.paymentassist.client import PROVIDER
from providers.paymentassist.signing import verify_return, verify_webhook
from state.checkout_models import CustomerReturn, WebhookHint

NOT_VALID = ("Link not valid", "This return link could not be verified.", 400)
OUTCOME_PAGES = {
    "success": ("Thank you", "The lender has approved your finance."),
    "failed": ("Finance not completed", "Your application did not go through."),
    "pending": ("Thank you", "We are confirming your finance with the lender."),
}
SUCCESS = frozenset({"pending_capture", "completed", "invoiced"})
FAILED = frozenset({"declined", "failed", "expired", "cancelled"})
RETURN_WAITERS = 16
"""Requests of one return link that wait for its confirmation together; more are told pending."""
logger = logging.getLogger("payflow.gateway.returns")


def confirmed_outcome(status: str) -> str:
    """What the checkout itself has confirmed: success, failed, or still pending."""
    return "success" if status in SUCCESS else "failed" if status in FAILED else "pending"


router = APIRouter(tags=["paymentassist callbacks"])
HTML: dict[str, dict[str, str]] = {"text/html": {}}


@router.get(
    "/return/paymentassist",
    response_model=None,
    responses={
        200: {"description": "a page saying what the checkout confirmed", "content": HTML},
        303: {
            "description": "to PAYFLOW_RETURN_REDIRECT_URL with the confirmed outcome, signed "
            "(`order_id`, `outcome`, `t`, `signature`: `payflow.notifications.verify_return`)"
        },
        400: {"description": "not valid: bad signature, or not this order's", "content": HTML},
        **INVALID,
        **UNAVAILABLE,
    },
)
async def customer_return(
    request: Request,
    order_id: str = Query(min_length=1, max_length=255),
    token: str = Query(default=""),
    status: str = Query(default=""),
    signature: str = Query(default=""),
    found: GatewayServices = Depends(services),
) -> Response:
    """The signature covers only the appended token and status, not our order_id: the token is
    checked against the order's checkout before anything is signalled, and the page (or the
    merchant's redirect) says what the checkout confirmed, never what the link claims.

    Replays of one link share one confirmation and wait for it without holding a gateway slot;
    beyond `RETURN_WAITERS` of one link, or as many links confirming as the gateway has slots,
    a return is answered pending at once."""
    secret = found.paymentassist_secret.get_secret_value()
    verified = verify_return(token, status, signature, secret)
    count_callback(PROVIDER, "return", verified=verified)
    if not verified:
        return customer_page(*NOT_VALID)
    hint = CustomerReturn(token=token, status=status)
    waits: SharedWaits[str] = request.app.state.return_waits
    try:
        confirmed = await waits.join(
            (order_id, token, status),
            lambda: found.checkouts.customer_returned(order_id, hint),
            seated=lambda: release_slot(request),
        )
    except HintNotBound:
        logger.info("a signed return whose token is not the order's: nothing signalled")
        return customer_page(*NOT_VALID)
    if isinstance(confirmed, NoRoom) and not confirmed.same_key:
        logger.warning("too many returns confirming at once: one answered pending, unsent")
    # no room: this link's confirmation runs already, or the checkout's polls will confirm it
    outcome = "pending" if isinstance(confirmed, NoRoom) else confirmed_outcome(confirmed)
    if found.return_redirect_url and found.return_secret:
        separator = "&" if "?" in found.return_redirect_url else "?"
        signed = signed_return_query(found.return_secret.get_secret_value(), order_id, outcome)
        location = f"{found.return_redirect_url}{separator}{urlencode(signed)}"
        return RedirectResponse(location, status_code=303)
    return customer_page(*OUTCOME_PAGES[outcome])


@router.post(
    "/webhooks/paymentassist",
    responses={
        400: refusal("not JSON, no token, or not this order's token"),
        401: refusal("the signature does not verify"),
        408: refusal("the body did not arrive within PAYFLOW_GATEWAY_BODY_TIMEOUT_SECONDS"),
        413: refusal("the body is larger than PAYFLOW_GATEWAY_MAX_CALLBACK_BODY_BYTES"),
        **INVALID,
        503: refusal("Temporal cannot answer now, or too many requests: the lender retries"),
    },
)
async def webhook(
    request: Request,
    order_id: str = Query(min_length=1, max_length=255),
    found: GatewayServices = Depends(services),
) -> JSONResponse:
    """Answer 200 only once the checkout has the signal; a bad signature changes nothing."""
    path = request.url.path
    body = await request.body()  # its size and arrival were bounded by `gateway.shedding`
    try:
        payload = json.loads(body)
    except ValueError:
        count_callback(PROVIDER, "webhook", verified=False)
        return problem(400, "not_json", "the body is not JSON", instance=path)
    secret = found.paymentassist_secret.get_secret_value()
    verified = isinstance(payload, dict) and verify_webhook(payload, secret)
    count_callback(PROVIDER, "webhook", verified=verified)
    if not verified:
        return problem(401, "bad_signature", "the signature does not verify", instance=path)
    event_data = payload.get("event_data")
    token = event_data.get("token") if isinstance(event_data, dict) else None
    if not isinstance(token, str):
        return problem(400, "no_token", "event_data.token is missing", instance=path)
    hint = WebhookHint(
        token=token,
        event_name=str(payload.get("event_name", "")),
        event_time=str(payload.get("event_time", "")) or None,
    )
    try:
        await found.checkouts.webhook_received(order_id, hint)
    except HintNotBound:
        return problem(400, "not_this_order", "the token is not this order's", instance=path)
    except PaymentConflict:
        return JSONResponse({"status": "already_ended"})
    return JSONResponse({"status": "accepted"})
