"""Verify and parse Passimpay callbacks: signature over the raw body first, then JSON.

A verified callback is still only a hint: confirm with `/v2/orderstatus` or
`/v2/withdrawstatus` before releasing goods or money.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Literal

from pydantic import ValidationError

from providers.errors import InvalidInput, ProviderError
from providers.passimpay.models import DepositCallback, WithdrawCallback
from providers.passimpay.signing import verify


class InvalidSignature(ProviderError):
    """The callback is not from our platform: bad or missing signature, or another platformId."""


class UnusableCallback(InvalidInput):
    """A verified callback whose body no payment can have: unreadable, or impossible values.

    `problems` names each field and why (never the signature or the whole body); `kind` and
    `order_id` are what could be read, so an operator can find it.
    """

    def __init__(
        self, kind: Literal["deposit", "withdrawal"], order_id: str | None, problems: list[str]
    ) -> None:
        super().__init__(f"{kind} callback refused: {'; '.join(problems)}")
        self.kind: Literal["deposit", "withdrawal"] = kind
        self.order_id = order_id
        self.problems = problems


def _problems(error: ValidationError) -> list[str]:
    """`field: why` for each refused field, in the provider's names."""
    found = []
    for item in error.errors():
        where = ".".join(map(str, item["loc"]))
        why = str(item["msg"]).removeprefix("Value error, ")
        found.append(f"{where}: {why}" if where else why)
    return found


def _order_id(payload: dict[str, object]) -> str | None:
    value = payload.get("orderId")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value[:64] if isinstance(value, str) and value else None


def parse_callback(
    body: bytes, signature_header: str | None, *, platform_id: int, secret: str
) -> DepositCallback | WithdrawCallback:
    """Verify `x-signature` over the exact bytes received, then parse the callback they carry.

    Raises InvalidSignature for anything not from our platform, and UnusableCallback for a
    verified body that cannot be read or carries values no payment can have.
    """
    if not verify(platform_id, body, secret, signature_header):
        raise InvalidSignature("callback signature does not match")
    try:
        payload = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise UnusableCallback("deposit", None, ["body: not JSON"]) from None
    if not isinstance(payload, dict):
        raise UnusableCallback("deposit", None, ["body: not a JSON object"])
    if str(payload.get("platformId")) != str(platform_id):
        raise InvalidSignature(f"callback is for platformId {payload.get('platformId')!r}")
    withdrawal = "transactionId" in payload or "approve" in payload
    model = WithdrawCallback if withdrawal else DepositCallback
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        kind: Literal["deposit", "withdrawal"] = "withdrawal" if withdrawal else "deposit"
        raise UnusableCallback(kind, _order_id(payload), _problems(exc)) from None
