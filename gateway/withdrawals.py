"""Merchant API for Passimpay payouts: request once per order, read, and resolve unknown outcomes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from gateway.auth import AUTH_RESPONSES, Caller, merchant, operator, reader
from gateway.services import GatewayServices, services
from state.passimpay_withdrawal_models import (
    WithdrawalRequest,
    WithdrawalResolution,
    WithdrawalView,
)

router = APIRouter(
    prefix="/v1/crypto/withdrawals", tags=["crypto withdrawals"], responses=AUTH_RESPONSES
)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(merchant)])
async def request_withdrawal(
    request: WithdrawalRequest, found: GatewayServices = Depends(services)
) -> WithdrawalView:
    """Pay out once per order_id: a repeated request joins the first and returns its state."""
    return await found.withdrawals.request(request)


@router.get("/{order_id}", dependencies=[Depends(reader)])
async def get_withdrawal(
    order_id: str, found: GatewayServices = Depends(services)
) -> WithdrawalView:
    """The payout's state: provider status, fees, sends and journal."""
    return await found.withdrawals.get(order_id)


@router.post("/{order_id}/resolve")
async def resolve_withdrawal(
    order_id: str,
    resolution: WithdrawalResolution,
    found: GatewayServices = Depends(services),
    who: Caller = Depends(operator),
) -> WithdrawalView:
    """Operator: settle a payout whose outcome is unknown as paid or failed, or send it again."""
    return await found.withdrawals.resolve(order_id, resolution.by(who.name))
