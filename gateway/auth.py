"""Optional bearer token on the merchant API, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, status

from gateway.services import GatewayServices, services


def require_api_token(request: Request, found: GatewayServices = Depends(services)) -> None:
    """Reject merchant API calls without the configured token (no token set: open, for dev)."""
    if found.api_token is None:
        return
    header = request.headers.get("authorization", "")
    expected = f"Bearer {found.api_token.get_secret_value()}"
    if not hmac.compare_digest(header.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong API token")
