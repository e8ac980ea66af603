"""Who is calling the API: a merchant or a named operator, by bearer token, in constant time."""

from __future__ import annotations

import logging

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.access import INSECURE_CALLER, Caller, Role
from gateway.services import GatewayServices, services

logger = logging.getLogger("payflow.gateway.auth")
BEARER = HTTPBearer(
    auto_error=False,
    description="The merchant's token (PAYFLOW_API_TOKEN) or an operator's "
    "(PAYFLOW_OPERATOR_TOKEN, PAYFLOW_OPERATOR_TOKENS); the scheme is case-insensitive.",
)


async def caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(BEARER),
    found: GatewayServices = Depends(services),
) -> Caller:
    """The authenticated caller; 401 without a known token (unless no token is set at all and
    the API is open for development, said once at start-up). Async, like every dependency here,
    so no request waits for a worker thread."""
    access = found.access
    if access.open:
        return Caller(Role.OPERATOR, INSECURE_CALLER)
    who = access.identify(credentials.credentials) if credentials else None
    if who is None:
        logger.info("refused %s %s: missing or unknown token", request.method, request.url.path)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or unknown bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return who


async def merchant(who: Caller = Depends(caller)) -> Caller:
    """Merchant actions: start, capture, invoice, cancel."""
    return _require(who, Role.MERCHANT)


async def operator(who: Caller = Depends(caller)) -> Caller:
    """Operator actions: resolve, inbox, close."""
    return _require(who, Role.OPERATOR)


async def reader(who: Caller = Depends(caller)) -> Caller:
    """Reading a payment's state: the merchant or an operator."""
    return who


def _require(who: Caller, role: Role) -> Caller:
    if who.name == INSECURE_CALLER or who.role == role:
        return who
    logger.info("refused a %s action to the %s token", role.value, who.role.value)
    raise HTTPException(
        status.HTTP_403_FORBIDDEN, f"this action needs the {role.value} token, not the {who.role}"
    )
