"""What the gateway's routes need, built once per app and reached through `request.app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from pydantic import SecretStr

from gateway.access import AccessTokens
from payflow.checkouts import PaymentAssistCheckouts
from payflow.crypto import PassimpayPayments
from payflow.withdrawals import PassimpayWithdrawals


@dataclass(frozen=True)
class PassimpayCallbackSettings:
    """How Passimpay callbacks are verified: our platform, its key, and who may send them."""

    platform_id: int
    secret: SecretStr
    allowed_ips: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class GatewayServices:
    """The Python API objects and the secrets needed to verify what providers send."""

    checkouts: PaymentAssistCheckouts
    paymentassist_secret: SecretStr
    crypto: PassimpayPayments
    passimpay: PassimpayCallbackSettings
    withdrawals: PassimpayWithdrawals
    return_redirect_url: str | None = None
    access: AccessTokens = field(default_factory=AccessTokens)


def services(request: Request) -> GatewayServices:
    """FastAPI dependency: the app's services."""
    found: GatewayServices = request.app.state.services
    return found
