"""Passimpay x-signature: HMAC-SHA256 over `platformId;body;secret`, on the exact bytes sent."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def signature(platform_id: int, body: bytes, secret: str) -> str:
    """Lower-case hex signature of one request or callback body, exactly as transmitted."""
    message = str(platform_id).encode() + b";" + body + b";" + secret.encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(platform_id: int, body: bytes, secret: str, received: str | None) -> bool:
    """Constant-time check of a signature over the raw received body, never a re-encoding."""
    if not received or not received.isascii():  # a hex digest is ASCII; anything else is not it
        return False
    return hmac.compare_digest(signature(platform_id, body, secret), received.strip().lower())


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def encode_body(payload: Mapping[str, Any], *, escape_slashes: bool = False) -> bytes:
    """Serialise a body once (compact JSON, Decimal as string) so that it is signed as sent."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    if escape_slashes:
        text = text.replace("/", "\\/")
    return text.encode("utf-8")
