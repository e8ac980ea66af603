"""Routes that are not the provider's API: the hosted invoice page and `/_sandbox/*` controls
for tests, benchmarks and the dev stack (no signature; never expose them publicly)."""

from __future__ import annotations

import inspect
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from sandbox.passimpay import page

if TYPE_CHECKING:
    from sandbox.passimpay.simulator import PassimpaySandbox

FAULTS = frozenset(
    {
        "fail_next",
        "lose_response_ratio",
        "drop_callbacks",
        "duplicate_callbacks",
        "delay_callbacks",
        "reorder_callbacks",
        "status_lag",
        "fail_withdrawal",
        "clear",
        "amount_paid_unit",
        "currency_list",
        "utxo_callbacks",
        "partial_expiry_callback",
        "late_amount_paid",
        "callback_amounts",
        "undocumented_status",
        "address_orderstatus",
    }
)
"""`PassimpayFaults` methods reachable as `POST /_sandbox/faults/{name}` with JSON kwargs."""


class DepositIn(BaseModel):
    order_id: str
    amount: Decimal
    payment_id: int | None = None
    txhash: str | None = None
    with_tag: bool = True
    counted: bool = True


class PayIn(BaseModel):
    order_id: str
    payment_id: int | None = None
    amount: Decimal | None = None


class SettleIn(BaseModel):
    order_id: str
    approve: Literal[1, 2]
    reason: str | None = None


class SettingsIn(BaseModel):
    callback_url: str | None = None
    withdraw_callbacks: bool | None = None
    base_url: str | None = None


def router(sim: PassimpaySandbox) -> APIRouter:
    """Hosted page plus control routes bound to one simulator."""
    api = APIRouter()

    @api.get("/pay/{order_id:path}", response_class=HTMLResponse)
    async def invoice_page(order_id: str) -> str:
        invoice = sim.invoices.by_order.get(order_id)
        if invoice is None:
            raise HTTPException(404, "no such invoice")
        return page.render(invoice, sim.now())

    @api.post("/_sandbox/pay/{order_id:path}")
    async def pay(
        order_id: str,
        payment_id: Annotated[list[int], Form()],
        amount: Annotated[list[str], Form()],
    ) -> RedirectResponse:
        if len(payment_id) != len(amount):
            raise HTTPException(422, "send one amount per payment_id")
        try:
            for currency, fiat in zip(payment_id, amount, strict=True):
                value = Decimal(fiat) if fiat.strip() else None
                await sim.pay(order_id, payment_id=currency, amount=value)
        except (ValueError, ArithmeticError) as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(f"../../pay/{quote(order_id, safe='')}", status_code=303)

    @api.post("/_sandbox/deposit")
    async def deposit(body: DepositIn) -> dict[str, str]:
        try:
            txhash = await sim.deposit(
                body.order_id,
                body.amount,
                payment_id=body.payment_id,
                txhash=body.txhash,
                with_tag=body.with_tag,
                counted=body.counted,
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"txhash": txhash}

    @api.post("/_sandbox/invoice-payment")
    async def invoice_payment(body: PayIn) -> dict[str, str]:
        """What the hosted page's pay button does, as JSON: `amount` in the invoice's symbol
        (default: the rest), in `payment_id` (default: the invoice's first currency)."""
        try:
            txhash = await sim.pay(body.order_id, payment_id=body.payment_id, amount=body.amount)
        except (ValueError, ArithmeticError) as exc:
            raise HTTPException(400, str(exc)) from None
        return {"txhash": txhash}

    @api.post("/_sandbox/expire/{order_id:path}")
    async def expire(order_id: str) -> dict[str, bool]:
        try:
            sim.expire_invoice(order_id)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None
        return {"ok": True}

    @api.get("/_sandbox/withdrawals/{order_id:path}")
    async def withdrawal(order_id: str) -> dict[str, Any]:
        found = sim.withdrawal(order_id)
        if found is None:
            raise HTTPException(404, "no such withdrawal")
        return found.status_fields(sim.now()) or {}

    @api.post("/_sandbox/settle")
    async def settle(body: SettleIn) -> dict[str, bool]:
        try:
            sim.settle_withdrawal(body.order_id, body.approve, body.reason)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"ok": True}

    @api.post("/_sandbox/unblock")
    async def unblock(
        platform_id: Annotated[int | None, Body(embed=True)] = None,
    ) -> dict[str, bool]:
        sim.unblock(platform_id)
        return {"ok": True}

    @api.post("/_sandbox/faults/{name}")
    async def fault(
        name: str, kwargs: Annotated[dict[str, Any] | None, Body()] = None
    ) -> dict[str, bool]:
        if name not in FAULTS:
            raise HTTPException(404, f"unknown fault {name!r}; one of {sorted(FAULTS)}")
        method = getattr(sim.faults, name)
        try:
            inspect.signature(method).bind(**(kwargs or {}))
            method(**(kwargs or {}))
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        return {"ok": True}

    @api.post("/_sandbox/settings")
    async def settings(body: SettingsIn) -> dict[str, bool]:
        for name, value in body.model_dump(exclude_unset=True).items():
            setattr(sim, name, value)
        return {"ok": True}

    @api.get("/_sandbox/state")
    async def state() -> dict[str, Any]:
        return {
            "calls": dict(sim.calls),
            "violations": sim.violations,
            "blocked": sorted(sim.limiter.blocked),
            "payouts": dict(sim.payouts),
            "min_withdraw_gap": sim.min_withdraw_gap(),
            "callback_deliveries": len(sim.callback_log),
        }

    @api.post("/_sandbox/idle")
    async def idle(seconds: float = 10) -> dict[str, bool]:
        await sim.wait_idle(seconds)
        return {"ok": True}

    return api
