"""Signed merchant notifications: how payflow signs each event, and how a merchant checks one.

Every event is POSTed as JSON with two headers:

- `Payflow-Event-Id`: the event's id, the same on every retry and replay (dedupe on it);
- `Payflow-Signature: t=<unix seconds>,v1=<hex>`, where the hex is HMAC-SHA256 with the shared
  secret over `<t>.` followed by the raw body, so a body cannot be altered or replayed later
  with another timestamp.

A merchant's backend calls `verify_event(body, headers["Payflow-Signature"], secret)` with the
raw bytes it received and gets the parsed `MerchantEvent`, or `InvalidSignature`.

The customer's return redirect (`PAYFLOW_RETURN_REDIRECT_URL`) is signed with the same secret and
scheme: `?order_id=...&outcome=...&t=<unix seconds>&signature=<hex>`, the hex HMAC-SHA256 over
`<t>.return.<outcome>.<order_id>`; `verify_return(query, secret)` checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

import httpx
from pydantic import ValidationError

from payflow.notify_targets import Target
from state.notifications import MerchantEvent

SIGNATURE_HEADER = "Payflow-Signature"
EVENT_ID_HEADER = "Payflow-Event-Id"
TOLERANCE_SECONDS = 300
"""How far a signature's timestamp may be from the receiver's clock."""
RETURN_OUTCOMES = frozenset({"success", "failed", "pending"})
"""What a return redirect's `outcome` may say (what the checkout had confirmed)."""


class InvalidSignature(ValueError):
    """The body was not signed with the secret, was altered, or is too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `v1` HMAC of one delivery attempt."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, now: float | None = None) -> str:
    """The `Payflow-Signature` value for `body`, stamped now."""
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def event_body(event: MerchantEvent) -> bytes:
    """The exact bytes POSTed for `event` (the same on every attempt and replay)."""
    return event.model_dump_json().encode()


async def post_event(
    http: httpx.AsyncClient,
    url: str,
    event: MerchantEvent,
    secret: str,
    *,
    pinned: Target | None = None,
) -> int:
    """POST one event, signed now; the merchant's HTTP status (httpx errors propagate). With a
    `pinned` target, connect to the address it vetted (Host and TLS still name the host)."""
    body = event_body(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "payflow-notifications",
        EVENT_ID_HEADER: event.id,
        SIGNATURE_HEADER: signature_header(secret, body),
    }
    extensions: dict[str, str] = {}
    if pinned is not None and pinned.host_header is not None:
        url = pinned.url
        headers["Host"] = pinned.host_header
        extensions["sni_hostname"] = pinned.host
    response = await http.post(url, content=body, headers=headers, extensions=extensions)
    return response.status_code


def verify_event(
    body: bytes,
    header: str,
    secrets: str | Iterable[str],
    *,
    tolerance_seconds: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> MerchantEvent:
    """Check a received notification and parse it; several secrets allow a rotation."""
    timestamp, candidates = _parse_header(header)
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_seconds:
        raise InvalidSignature("the signature's timestamp is outside the tolerance")
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    expected = [signature(key, timestamp, body) for key in keys]
    if not any(hmac.compare_digest(e, c) for e in expected for c in candidates):
        raise InvalidSignature("no v1 signature matches the body")
    try:
        return MerchantEvent.model_validate_json(body)
    except ValidationError as error:
        raise InvalidSignature(f"signed, but not an event: {error.error_count()} errors") from None


@dataclass(frozen=True)
class ReturnRedirect:
    """A verified return redirect: the order and what its checkout had confirmed when the
    customer came back. A hint for the page shown; confirm with `GET` or the signed event
    before goods are released."""

    order_id: str
    outcome: str
    timestamp: int


def return_signature(secret: str, timestamp: int, order_id: str, outcome: str) -> str:
    """The `signature` of one return redirect (the outcome has no dot, so the message parses
    one way only; `return.` keeps it apart from an event's `<t>.{...}`)."""
    signed = f"{timestamp}.return.{outcome}.{order_id}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_return_query(
    secret: str, order_id: str, outcome: str, *, now: float | None = None
) -> dict[str, str]:
    """The query parameters of the customer's redirect, stamped now."""
    timestamp = int(time.time() if now is None else now)
    return {
        "order_id": order_id,
        "outcome": outcome,
        "t": str(timestamp),
        "signature": return_signature(secret, timestamp, order_id, outcome),
    }


def verify_return(
    query: str | Mapping[str, str],
    secrets: str | Iterable[str],
    *,
    tolerance_seconds: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> ReturnRedirect:
    """Check a return redirect: its query string (or the whole URL), or its parameters as a
    mapping. InvalidSignature when it was not signed with the secret, was altered or is stale."""
    params = _return_params(query)
    order_id, outcome = params.get("order_id", ""), params.get("outcome", "")
    stamp, candidate = params.get("t", ""), params.get("signature", "")
    if not (order_id and outcome in RETURN_OUTCOMES and stamp.isdigit() and candidate):
        raise InvalidSignature("the redirect needs order_id, outcome, t and signature")
    timestamp = int(stamp)
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_seconds:
        raise InvalidSignature("the signature's timestamp is outside the tolerance")
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    expected = [return_signature(key, timestamp, order_id, outcome) for key in keys]
    if not any(hmac.compare_digest(e.encode(), candidate.encode()) for e in expected):
        raise InvalidSignature("the signature does not match the redirect")
    return ReturnRedirect(order_id=order_id, outcome=outcome, timestamp=timestamp)


def _return_params(query: str | Mapping[str, str]) -> dict[str, str]:
    """The redirect's parameters; one that appears twice is refused (readers differ on which
    of two counts)."""
    if not isinstance(query, str):
        return {key: str(value) for key, value in query.items()}
    text = query.split("#", 1)[0]
    text = text.split("?", 1)[1] if "?" in text else text
    params: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in params:
            raise InvalidSignature(f"the redirect has {key!r} twice")
        params[key] = value
    return params


def _parse_header(header: str) -> tuple[int, list[str]]:
    """`t=...,v1=...[,v1=...]` into the timestamp and the candidate signatures."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("the header needs t=<seconds> and at least one v1=<hex>")
    return timestamp, candidates
