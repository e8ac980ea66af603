"""Payment Assist HMAC-SHA256 signatures over sorted, upper-cased `NAME=value&` pairs."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

UNSIGNED = frozenset({"api_key", "signature"})


def _text(value: Any) -> str:
    """Write a parameter the way the provider sees it: booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical_string(params: Mapping[str, Any]) -> str:
    """The exact text that is signed: values as sent, never URL-encoded, never split."""
    pairs = sorted(
        (name, _text(value))
        for name, value in params.items()
        if name not in UNSIGNED and value is not None and _text(value) != ""
    )
    return "".join(f"{name.upper()}={value}&" for name, value in pairs)


def signature(params: Mapping[str, str], secret: str) -> str:
    """Lower-case hex HMAC-SHA256 of the request parameters, keyed by the API secret."""
    message = canonical_string(params).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(params: Mapping[str, Any], secret: str, received: str | None) -> bool:
    """Constant-time check of a received signature over the given parameters."""
    if not received or not received.isascii():  # a hex digest is ASCII; anything else is not it
        return False
    return hmac.compare_digest(signature(params, secret), received.strip().lower())


def return_signature_params(token: str, status: str) -> dict[str, str]:
    """The only parameters a customer-return signature covers (STATUS=...&TOKEN=...&)."""
    return {"token": token, "status": status}


def webhook_signature_params(payload: Mapping[str, Any]) -> dict[str, str]:
    """Top-level webhook fields with `event_data` as compact JSON with sorted keys."""
    params: dict[str, str] = {}
    for name, value in payload.items():
        if name in UNSIGNED:
            continue
        if isinstance(value, Mapping | list):
            params[name] = json.dumps(value, separators=(",", ":"), sort_keys=True)
        else:
            params[name] = _text(value)
    return params


def verify_return(token: str, status: str, received: str | None, secret: str) -> bool:
    """Verify a customer return's signature over the appended token and status only."""
    return verify(return_signature_params(token, status), secret, received)


def verify_webhook(payload: Mapping[str, Any], secret: str) -> bool:
    """Verify a webhook body's `signature` field over its other top-level fields."""
    received = payload.get("signature")
    if not isinstance(received, str):
        return False
    return verify(webhook_signature_params(payload), secret, received)


def sign_webhook(payload: Mapping[str, Any], secret: str) -> str:
    """Signature the provider attaches to a webhook body (the sandbox uses this)."""
    return signature(webhook_signature_params(payload), secret)
