"""Merchant API for Passimpay payouts: request once per order, read, and resolve unknown outcomes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from gateway.auth import Caller, merchant, operator, reader
from gateway.errors import API, NOT_FOUND, ORDER, UNREADABLE
from gateway.problems import ValidationProblem, WithdrawalProblem, refusal
from gateway.services import GatewayServices, services
from state.passimpay_withdrawal_models import (
    WithdrawalRequest,
    WithdrawalResolution,
    WithdrawalView,
)

router = APIRouter(prefix="/v1/crypto/withdrawals", tags=["crypto withdrawals"], responses=API)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(merchant)],
    responses={
        **UNREADABLE,
        409: refusal("the order already has a withdrawal on other terms (`different_terms`)"),
        422: refusal(
            "the request does not match the schema, or the payout was rejected before anything "
            "was sent (`rejected`, with its state)",
            WithdrawalProblem | ValidationProblem,
        ),
    },
)
async def request_withdrawal(
    request: WithdrawalRequest, found: GatewayServices = Depends(services)
) -> WithdrawalView:
    """Pay out once per order_id: a repeated request joins the first and returns its state."""
    return await found.withdrawals.request(request)


@router.get("/{order_id:path}", dependencies=[Depends(reader)], responses=NOT_FOUND)
async def get_withdrawal(
    order_id: str, found: GatewayServices = Depends(services)
) -> WithdrawalView:
    """The payout's state: provider status, fees, sends and journal."""
    return await found.withdrawals.get(order_id)


@router.post("/{order_id:path}/resolve", responses={**ORDER, **UNREADABLE})
async def resolve_withdrawal(
    order_id: str,
    resolution: WithdrawalResolution,
    found: GatewayServices = Depends(services),
    who: Caller = Depends(operator),
) -> WithdrawalView:
    """Operator: settle a payout whose outcome is unknown as paid or failed, or send it again."""
    return await found.withdrawals.resolve(order_id, resolution.by(who.name))
