"""Passimpay callbacks: verify over the raw body, check the values, then signal or keep.

A verified callback with values no payment can have (a non-positive, non-finite or unbounded
amount, a negative confirmation count, an empty txhash, a currency the platform does not list,
a deposit sent to an address that is not the order's) is answered 400, naming the field, and
kept in the operators' inbox; it never reaches a payment's workflow.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from gateway.client_address import client_address, within
from gateway.errors import INVALID
from gateway.metrics import count_callback
from gateway.problems import CallbackProblem, Problem, problem, refusal
from gateway.services import GatewayServices, services
from ledger.database import LedgerUnavailable
from payflow.crypto import DepositRefused
from payflow.workflow_calls import PaymentConflict, PaymentNotFound, PaymentUnavailable
from providers.passimpay import (
    DepositCallback,
    InvalidSignature,
    UnusableCallback,
    WithdrawCallback,
    parse_callback,
)
from providers.passimpay.client import PROVIDER
from state.deposit_ledger import DepositEvent
from state.passimpay_models import UnmatchedCallback

CALLBACK_PATH = "/webhooks/passimpay"
Kind = Literal["deposit", "withdrawal"]
FIELD = re.compile(r"([A-Za-z]\w*(?:\.\w+)*): ")

router = APIRouter(tags=["passimpay callbacks"])
log = logging.getLogger("payflow.gateway.passimpay")


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


@router.post(
    CALLBACK_PATH,
    responses={
        400: refusal(
            "signed, but with impossible values (`bad_callback`): kept for an operator",
            CallbackProblem | Problem,
        ),
        401: refusal("the signature does not verify"),
        403: refusal("the sender is not on the callback allow-list"),
        408: refusal("the body did not arrive within PAYFLOW_GATEWAY_BODY_TIMEOUT_SECONDS"),
        413: refusal("the body is larger than PAYFLOW_GATEWAY_MAX_CALLBACK_BODY_BYTES"),
        **INVALID,
        503: refusal("Temporal cannot answer now, or too many requests: Passimpay retries"),
    },
)
async def passimpay_callback(
    request: Request, found: GatewayServices = Depends(services)
) -> JSONResponse:
    """200 only once a workflow (or the unmatched inbox) has it; forged bodies change nothing."""
    settings = found.passimpay
    path = request.url.path
    if settings.allowed_ips:
        peer = request.client.host if request.client else None
        sender = client_address(
            peer, request.headers.getlist("x-forwarded-for"), settings.proxy_networks
        )
        if not within(sender, settings.allowed_networks):
            log.warning(
                "passimpay callback refused: sender %s is not allowed (peer %s)", sender, peer
            )
            count_callback(PROVIDER, "callback", verified=False)
            return problem(
                403, "source_not_allowed", "the sender is not on the allow-list", instance=path
            )
    body = await request.body()  # its size and arrival were bounded by `gateway.shedding`
    try:
        callback = parse_callback(
            body,
            request.headers.get("x-signature"),
            platform_id=settings.platform_id,
            secret=settings.secret.get_secret_value(),
        )
    except InvalidSignature as error:
        log.warning("passimpay callback refused: %s", error)
        count_callback(PROVIDER, "callback", verified=False)
        return problem(401, "bad_signature", "the signature does not verify", instance=path)
    except UnusableCallback as error:  # signed: its values are kept for an operator
        count_callback(PROVIDER, "callback", verified=True)
        return await _refused(found, body, error.kind, error.order_id, error.problems)
    count_callback(PROVIDER, "callback", verified=True)
    if isinstance(callback, WithdrawCallback):
        return await _withdrawal(found, body, callback)
    return await _deposit(found, body, callback)


async def _unknown_currency(found: GatewayServices, payment_id: int | None) -> list[str]:
    """`paymentId: ...` when the platform does not list it (nothing when it cannot be told)."""
    currencies = found.passimpay.currencies
    if payment_id is None or currencies is None or await currencies.knows(payment_id) is not False:
        return []
    return [f"paymentId: {payment_id} is not in the platform's currency list"]


async def _withdrawal(
    found: GatewayServices, body: bytes, callback: WithdrawCallback
) -> JSONResponse:
    problems = await _unknown_currency(found, callback.payment_id)
    if problems:
        return await _refused(found, body, "withdrawal", callback.order_id, problems)
    if callback.order_id:
        try:
            await found.withdrawals.withdraw_callback(callback.order_id, callback)
        except (PaymentNotFound, PaymentConflict):
            pass
        else:
            return JSONResponse({"status": "accepted", "target": "withdrawal"})
    return await _unmatched(found, body, callback.order_id, "withdrawal", "no open withdrawal")


async def _deposit(found: GatewayServices, body: bytes, callback: DepositCallback) -> JSONResponse:
    order_id = callback.order_id
    try:
        event = deposit_event(callback)
    except ValidationError as error:
        problems = [
            f"{'.'.join(map(str, e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in error.errors()
        ]
        return await _refused(found, body, "deposit", order_id, problems)
    problems = await _unknown_currency(found, callback.payment_id)
    if problems:
        return await _refused(found, body, "deposit", order_id, problems, event)
    try:
        target = await found.crypto.deliver_deposit(order_id, event)
    except DepositRefused as refused:
        return await _refused(found, body, "deposit", order_id, [refused.reason], event)
    except PaymentNotFound:
        return await _unmatched(
            found, body, order_id, "deposit", "no open invoice or address", event
        )
    except PaymentUnavailable:
        return await _held(found, order_id, event)
    return JSONResponse({"status": "accepted", "target": target})


async def _held(found: GatewayServices, order_id: str, event: DepositEvent) -> JSONResponse:
    """Temporal cannot take it now: keep it in the ledger (200, Passimpay's retries are few) and
    let the redelivery loop hand it over; 503 only when the ledger cannot keep it either."""
    try:
        await found.ledger.hold_callback("deposit", order_id, event.model_dump(mode="json"))
    except LedgerUnavailable:
        raise PaymentUnavailable(f"deposit for order {order_id}: nothing could keep it") from None
    log.warning("passimpay callback for order %s held until Temporal answers", order_id)
    return JSONResponse({"status": "accepted", "target": "held"})


async def _refused(
    found: GatewayServices,
    body: bytes,
    kind: Kind,
    order_id: str | None,
    problems: list[str],
    event: DepositEvent | None = None,
) -> JSONResponse:
    """400 naming each refused field; the callback is kept for an operator, never signalled."""
    reason = f"refused {kind} callback: {'; '.join(problems)}"
    log.warning("passimpay callback refused (order %s): %s", order_id, "; ".join(problems))
    await _keep(found, body, order_id, kind, reason, event)
    fields = sorted({m.group(1) for problem in problems if (m := FIELD.match(problem))})
    return problem(
        400,
        "bad_callback",
        reason,
        instance=CALLBACK_PATH,
        fields=fields,
        outcome="kept_for_operator",
    )


async def _unmatched(
    found: GatewayServices,
    body: bytes,
    order_id: str | None,
    kind: Kind,
    reason: str,
    event: DepositEvent | None = None,
) -> JSONResponse:
    log.info("passimpay callback kept for an operator (order %s): %s", order_id, reason)
    await _keep(found, body, order_id, kind, reason, event)
    return JSONResponse({"status": "kept_for_operator"})


async def _keep(
    found: GatewayServices,
    body: bytes,
    order_id: str | None,
    kind: Kind,
    reason: str,
    event: DepositEvent | None,
) -> None:
    item = UnmatchedCallback(
        key=hashlib.sha256(body).hexdigest(),
        received_at=datetime.now(UTC),
        order_id=order_id,
        kind=kind,
        reason=reason[:2000],
        deposit=event,
        raw=body.decode("utf-8", errors="replace")[:16_384],
    )
    await found.crypto.record_unmatched(item)
