"""Unsigned `/_sandbox/*` routes: arm faults, inspect state, decide for a customer."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator

from sandbox.paymentassist.faults import FailMode
from sandbox.paymentassist.variants import DateFormat, StatusVariants

if TYPE_CHECKING:
    from sandbox.paymentassist.sandbox import PaymentAssistSandbox


class FailNext(BaseModel):
    endpoint: str
    mode: FailMode
    """An HTTP status may come as a number (`"mode": 503`) or as its text."""

    @field_validator("mode", mode="before")
    @classmethod
    def _status_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    times: int = Field(1, ge=1)
    delay: float = Field(5.0, ge=0)


class Times(BaseModel):
    times: int | None = Field(None, ge=1)


class Delay(BaseModel):
    seconds: float = Field(ge=0)


class DepositFailure(BaseModel):
    token: str | None = None
    reason: str = "card declined"


class Variants(BaseModel):
    date_format: DateFormat = "iso"
    pa_ref_as_number: bool = False
    extra_fields: bool = False
    underscore_in_progress: bool = False
    numeric_strings: bool = False
    undocumented_status: str | None = Field(default=None, max_length=40)


class InvoiceFlag(BaseModel):
    required: bool = True


class AmountChange(BaseModel):
    amount: int = Field(ge=1)


class Decision(BaseModel):
    outcome: Literal["approve", "decline"]
    requires_invoice: bool = False


def create_router(sandbox: PaymentAssistSandbox) -> APIRouter:
    """Control routes for demos and out-of-process tests; they need no signature."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])
    faults = sandbox.faults

    @router.get("/faults")
    async def show_faults() -> dict[str, Any]:
        return faults.snapshot()

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        faults.clear()
        return faults.snapshot()

    @router.post("/faults/fail-next")
    async def fail_next(body: FailNext) -> dict[str, Any]:
        try:
            faults.fail_next(body.endpoint, body.mode, body.times, body.delay)
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        return faults.snapshot()

    @router.post("/faults/drop-webhooks")
    async def drop_webhooks(body: Times) -> dict[str, Any]:
        faults.drop_webhooks(body.times)
        return faults.snapshot()

    @router.post("/faults/duplicate-webhooks")
    async def duplicate_webhooks(body: Times) -> dict[str, Any]:
        faults.duplicate_webhooks(body.times)
        return faults.snapshot()

    @router.post("/faults/delay-webhooks")
    async def delay_webhooks(body: Delay) -> dict[str, Any]:
        faults.delay_webhooks(body.seconds)
        return faults.snapshot()

    @router.post("/faults/fail-deposit")
    async def fail_deposit(body: DepositFailure) -> dict[str, Any]:
        faults.fail_deposit(body.token, body.reason)
        return faults.snapshot()

    @router.get("/variants")
    async def show_variants() -> dict[str, Any]:
        return sandbox.variants.snapshot()

    @router.put("/variants")
    async def set_variants(body: Variants) -> dict[str, Any]:
        sandbox.variants = StatusVariants(**body.model_dump())
        return sandbox.variants.snapshot()

    @router.post("/applications/{token}/requires-invoice")
    async def requires_invoice(token: str, body: InvoiceFlag) -> dict[str, Any]:
        try:
            return sandbox.set_requires_invoice(token, body.required).inspect()
        except KeyError:
            raise HTTPException(404, "application not found") from None

    @router.post("/applications/{token}/amount")
    async def change_amount(token: str, body: AmountChange) -> dict[str, Any]:
        try:
            return sandbox.set_amount(token, body.amount).inspect()
        except KeyError:
            raise HTTPException(404, "application not found") from None

    @router.get("/applications")
    async def applications(order_id: str) -> list[dict[str, Any]]:
        return [found.inspect() for found in sandbox.applications_for_order(order_id)]

    @router.get("/applications/{token}")
    async def application(token: str) -> dict[str, Any]:
        try:
            return sandbox.application(token).inspect()
        except KeyError:
            raise HTTPException(404, "application not found") from None

    @router.post("/applications/{token}/decide")
    async def decide(token: str, body: Decision) -> dict[str, str]:
        try:
            url = await sandbox.decide(token, body.outcome, requires_invoice=body.requires_invoice)
        except KeyError:
            raise HTTPException(404, "application not found") from None
        except ValueError as error:
            raise HTTPException(409, str(error)) from None
        return {"redirect_url": url}

    @router.get("/calls")
    async def calls() -> dict[str, int]:
        return dict(sandbox.calls)

    @router.get("/webhooks")
    async def webhooks() -> list[dict[str, Any]]:
        return [asdict(delivery) for delivery in sandbox.webhook_log]

    return router
