"""Every payment, listed from the ledger of record: it outlives Temporal's retention."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from gateway.auth import reader
from gateway.errors import API
from gateway.problems import refusal
from gateway.services import GatewayServices, services
from ledger.database import LedgerUnavailable
from ledger.store import PaymentFilter, payment_key
from payflow.workflow_calls import PaymentUnavailable

router = APIRouter(prefix="/v1/payments", tags=["payments"], responses=API)

MAX_PAGE = 100


class PaymentSummary(BaseModel):
    """One payment as the ledger keeps it; read the whole flow with its own `GET`."""

    id: str = Field(description="`kind:order_id`: what `starting_after` takes")
    kind: Literal["checkout", "invoice", "address", "withdrawal"] = Field(description="the flow")
    provider: str = Field(description="`paymentassist` or `passimpay`")
    order_id: str = Field(description="the merchant's order")
    status: str | None = Field(description="where the payment stands")
    needs_attention: bool = Field(description="whether an operator must look")
    closed: bool = Field(description="its workflow has ended")
    created_at: datetime | None = Field(description="when its flow first recorded a change")
    updated_at: datetime | None = Field(description="its latest recorded change")


class PaymentList(BaseModel):
    """A page of payments, newest first."""

    data: list[PaymentSummary] = Field(description="newest first")
    has_more: bool = Field(
        description="older payments follow: pass the last `id` as `starting_after`"
    )


@router.get(
    "",
    dependencies=[Depends(reader)],
    responses={400: refusal("`starting_after` names no payment")},
)
async def list_payments(
    kind: Literal["checkout", "invoice", "address", "withdrawal"] | None = None,
    provider: Literal["paymentassist", "passimpay"] | None = None,
    status: str | None = Query(default=None, max_length=40),
    needs_attention: bool | None = None,
    created_from: datetime | None = Query(default=None, description="created at or after"),
    created_to: datetime | None = Query(default=None, description="created before"),
    limit: int = Query(default=20, ge=1, le=MAX_PAGE),
    starting_after: str | None = Query(
        default=None, max_length=250, description="the `id` the previous page ended with"
    ),
    found: GatewayServices = Depends(services),
) -> PaymentList:
    """Payments newest first with cursor pagination: pages never repeat or skip a payment,
    however many are started meanwhile."""
    where = PaymentFilter(
        kind=kind,
        provider=provider,
        status=status,
        needs_attention=needs_attention,
        created_from=created_from,
        created_to=created_to,
    )
    try:
        page = await found.ledger.page(where, limit=limit, starting_after=starting_after)
    except LedgerUnavailable as error:
        raise PaymentUnavailable(f"the ledger is unavailable: {error}") from None
    except KeyError as error:
        raise HTTPException(400, str(error.args[0])) from None
    return PaymentList(
        data=[
            PaymentSummary(id=payment_key(item.kind, item.order_id), **item.model_dump())
            for item in page.items
        ],
        has_more=page.has_more,
    )
