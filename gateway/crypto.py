"""Merchant API for Passimpay: invoice links, deposit addresses and the unmatched-callback inbox."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from gateway.auth import Caller, merchant, operator, reader
from gateway.errors import API, NOT_FOUND, ORDER, STARTED, UNREADABLE, Responses
from gateway.problems import CryptoProblem, Problem
from gateway.services import GatewayServices, services
from state.passimpay_models import (
    AddressOpened,
    AddressRequest,
    AddressView,
    DepositResolution,
    InvoiceOpened,
    InvoiceRequest,
    InvoiceView,
    UnmatchedCallback,
)

OPENED: Responses = {**UNREADABLE, 409: {**STARTED[409], "model": CryptoProblem | Problem}}
router = APIRouter(prefix="/v1/crypto", tags=["crypto"], responses=API)


@router.post(
    "/invoices",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(merchant)],
    responses=OPENED,
)
async def create_invoice(
    request: InvoiceRequest, found: GatewayServices = Depends(services)
) -> InvoiceOpened:
    """Create the order's invoice (or join it) and return the hosted payment URL."""
    return await found.crypto.create_invoice(request)


@router.get("/invoices/{order_id:path}", dependencies=[Depends(reader)], responses=NOT_FOUND)
async def get_invoice(order_id: str, found: GatewayServices = Depends(services)) -> InvoiceView:
    """The invoice's state and every deposit it received."""
    return await found.crypto.get_invoice(order_id)


@router.post(
    "/addresses",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(merchant)],
    responses=OPENED,
)
async def open_address(
    request: AddressRequest, found: GatewayServices = Depends(services)
) -> AddressOpened:
    """Assign the order's deposit address (with its tag on tag networks)."""
    return await found.crypto.open_address(request)


@router.get("/addresses/{order_id:path}", dependencies=[Depends(reader)], responses=NOT_FOUND)
async def get_address(order_id: str, found: GatewayServices = Depends(services)) -> AddressView:
    """The address's state and ledger."""
    return await found.crypto.get_address(order_id)


@router.post("/addresses/{order_id:path}/close", dependencies=[Depends(operator)], responses=ORDER)
async def close_address(order_id: str, found: GatewayServices = Depends(services)) -> AddressView:
    """Stop expecting deposits at this address."""
    return await found.crypto.close_address(order_id)


@router.post("/addresses/{order_id:path}/deposits/resolve", responses={**ORDER, **UNREADABLE})
async def resolve_deposit(
    order_id: str,
    resolution: DepositResolution,
    found: GatewayServices = Depends(services),
    who: Caller = Depends(operator),
) -> AddressView:
    """Operator: credit or reject a deposit the provider did not confirm (`key` from its ledger)."""
    return await found.crypto.resolve_deposit(order_id, resolution.by(who.name))


@router.get("/unmatched-callbacks", dependencies=[Depends(operator)])
async def unmatched(found: GatewayServices = Depends(services)) -> list[UnmatchedCallback]:
    """Operator: verified callbacks no open order took."""
    return await found.crypto.unmatched()


@router.post("/unmatched-callbacks/{key}/acknowledge", responses=ORDER)
async def acknowledge(
    key: str, found: GatewayServices = Depends(services), who: Caller = Depends(operator)
) -> list[UnmatchedCallback]:
    """Operator: one unmatched callback has been dealt with."""
    return await found.crypto.acknowledge_unmatched(key, actor=who.name)
