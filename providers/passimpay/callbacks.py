"""Verify and parse Passimpay callbacks: signature over the raw body first, then JSON.

A verified callback is still only a hint: confirm with `/v2/orderstatus` or
`/v2/withdrawstatus` before releasing goods or money.
"""

from __future__ import annotations

import json
from decimal import Decimal

from pydantic import ValidationError

from providers.errors import InvalidInput, ProviderError
from providers.passimpay.models import DepositCallback, WithdrawCallback
from providers.passimpay.signing import verify


class InvalidSignature(ProviderError):
    """The callback is not from our platform: bad or missing signature, or another platformId."""


def parse_callback(
    body: bytes, signature_header: str | None, *, platform_id: int, secret: str
) -> DepositCallback | WithdrawCallback:
    """Verify `x-signature` over the exact bytes received, then parse the callback they carry."""
    if not verify(platform_id, body, secret, signature_header):
        raise InvalidSignature("callback signature does not match")
    try:
        payload = json.loads(body, parse_float=Decimal)
    except ValueError:
        raise InvalidInput("callback body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput("callback body is not a JSON object")
    if str(payload.get("platformId")) != str(platform_id):
        raise InvalidSignature(f"callback is for platformId {payload.get('platformId')!r}")
    withdrawal = "transactionId" in payload or "approve" in payload
    model = WithdrawCallback if withdrawal else DepositCallback
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, error["loc"])) for error in exc.errors())
        raise InvalidInput(f"{model.__name__} has missing or bad fields: {fields}") from None
