"""Passimpay activities: one signed provider call each, the platform key held by the worker only."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from activities.errors import provider_call
from providers.passimpay import (
    CreateOrderRequest,
    DepositAddress,
    InvoiceLink,
    OrderStatusV3,
    PassimpayClient,
)
from state.passimpay_models import CurrencyFacts


class AddressLookup(BaseModel):
    """One `/v2/address` call."""

    payment_id: int
    order_id: str


class PassimpayActivities:
    """Deposit-side activities bound to one platform's client."""

    def __init__(self, client: PassimpayClient) -> None:
        self._client = client

    @activity.defn(name="passimpay.currency")
    async def currency(self, payment_id: int) -> CurrencyFacts:
        """What a workflow must know of one currency (UTXO or tag network), from the cached list."""
        with provider_call():
            found = await self._client.currency(payment_id)
        return CurrencyFacts(
            payment_id=found.id, ticker=found.currency, network=found.platform, tag=found.tag
        )

    @activity.defn(name="passimpay.create_order")
    async def create_order(self, request: CreateOrderRequest) -> InvoiceLink:
        """Create the hosted invoice."""
        with provider_call():
            return await self._client.create_order(request)

    @activity.defn(name="passimpay.order_status")
    async def order_status(self, order_id: str) -> OrderStatusV3:
        """The invoice's status with credited amounts and fees: the truth, unlike callbacks."""
        with provider_call():
            return await self._client.order_status_v3(order_id)

    @activity.defn(name="passimpay.address")
    async def address(self, lookup: AddressLookup) -> DepositAddress:
        """The H2H deposit address (with its tag on tag networks)."""
        with provider_call():
            return await self._client.address(lookup.payment_id, lookup.order_id)
