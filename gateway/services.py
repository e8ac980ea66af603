"""What the gateway's routes need, built once per app and reached through `request.app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from pydantic import SecretStr

from payflow.checkouts import PaymentAssistCheckouts


@dataclass(frozen=True)
class GatewayServices:
    """The Python API objects and the secrets needed to verify what providers send."""

    checkouts: PaymentAssistCheckouts
    paymentassist_secret: SecretStr
    return_redirect_url: str | None = None
    api_token: SecretStr | None = None


def services(request: Request) -> GatewayServices:
    """FastAPI dependency: the app's services."""
    found: GatewayServices = request.app.state.services
    return found
