"""Passimpay callbacks: verify over the raw body, then signal the order's workflow or keep it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from gateway.services import GatewayServices, services
from payflow.workflow_calls import PaymentConflict, PaymentNotFound
from providers.errors import InvalidInput
from providers.passimpay import DepositCallback, InvalidSignature, parse_callback
from state.deposit_ledger import DepositEvent
from state.passimpay_models import UnmatchedCallback

MAX_CALLBACK_BYTES = 64 * 1024

router = APIRouter(tags=["passimpay callbacks"])


def deposit_event(callback: DepositCallback) -> DepositEvent:
    """The ledger's view of a verified deposit callback."""
    return DepositEvent(
        txhash=callback.txhash,
        payment_id=callback.payment_id,
        amount=callback.amount,
        confirmations=callback.confirmations,
        address_from=callback.address_from,
        address_to=callback.address_to,
        destination_tag=callback.destination_tag,
    )


@router.post("/webhooks/passimpay")
async def passimpay_callback(
    request: Request, found: GatewayServices = Depends(services)
) -> JSONResponse:
    """200 only once a workflow (or the unmatched inbox) has it; forged bodies change nothing."""
    settings = found.passimpay
    client_ip = request.client.host if request.client else ""
    if settings.allowed_ips and client_ip not in settings.allowed_ips:
        return JSONResponse({"error": "source_not_allowed"}, status_code=403)
    body = await request.body()
    if len(body) > MAX_CALLBACK_BYTES:
        return JSONResponse({"error": "too_large"}, status_code=413)
    try:
        callback = parse_callback(
            body,
            request.headers.get("x-signature"),
            platform_id=settings.platform_id,
            secret=settings.secret.get_secret_value(),
        )
    except InvalidSignature:
        return JSONResponse({"error": "bad_signature"}, status_code=401)
    except (InvalidInput, ValueError, RecursionError) as error:
        detail = str(error) if isinstance(error, InvalidInput) else "unreadable body"
        return JSONResponse({"error": "bad_callback", "detail": detail}, status_code=400)
    if not isinstance(callback, DepositCallback):
        if callback.order_id:
            try:
                await found.withdrawals.withdraw_callback(callback.order_id, callback)
            except (PaymentNotFound, PaymentConflict):
                pass
            else:
                return JSONResponse({"status": "accepted", "target": "withdrawal"})
        return await _unmatched(found, body, callback.order_id, "withdrawal", "no open withdrawal")
    try:
        event = deposit_event(callback)
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        reason = f"verified deposit callback with unusable fields: {fields}"
        return await _unmatched(found, body, callback.order_id, "deposit", reason)
    try:
        target = await found.crypto.deliver_deposit(callback.order_id, event)
    except PaymentNotFound:
        return await _unmatched(
            found, body, callback.order_id, "deposit", "no open invoice or address", event
        )
    return JSONResponse({"status": "accepted", "target": target})


async def _unmatched(
    found: GatewayServices,
    body: bytes,
    order_id: str | None,
    kind: Literal["deposit", "withdrawal"],
    reason: str,
    event: DepositEvent | None = None,
) -> JSONResponse:
    item = UnmatchedCallback(
        key=hashlib.sha256(body).hexdigest(),
        received_at=datetime.now(UTC),
        order_id=order_id,
        kind=kind,
        reason=reason,
        deposit=event,
        raw=body.decode("utf-8", errors="replace")[:16_384],
    )
    await found.crypto.record_unmatched(item)
    return JSONResponse({"status": "kept_for_operator"})
