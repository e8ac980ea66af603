"""HTTP answers for the Python API's errors: 404 unknown, 409 not legal now, 422 bad input."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from payflow.checkouts import CheckoutNotStarted
from payflow.crypto import CryptoNotOpened
from payflow.withdrawals import WithdrawalRejected
from payflow.workflow_calls import PaymentConflict, PaymentNotFound, PaymentUnavailable


class ErrorBody(BaseModel):
    """Every refusal's body: a stable code and a sentence for people."""

    error: str
    detail: str | None = None


def refusal(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for one refusal."""
    return {"model": ErrorBody, "description": description}


RETRY_AFTER_SECONDS = 5
PAYMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: refusal("the body is not JSON"),
    404: refusal("no payment for this order"),
    409: refusal("not legal in the payment's current state, or the payment has ended"),
    503: refusal("Temporal cannot answer now; nothing was decided (see Retry-After)"),
}


logger = logging.getLogger("payflow.gateway")


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping once per app."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
        body = ErrorBody(error=code, detail=str(error.detail)).model_dump()
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(PaymentNotFound)
    async def _not_found(_: Request, error: PaymentNotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "detail": str(error)}, status_code=404)

    @app.exception_handler(CheckoutNotStarted)
    async def _not_started(_: Request, error: CheckoutNotStarted) -> JSONResponse:
        body = {
            "error": "not_started",
            "detail": str(error),
            "checkout": error.view.model_dump(mode="json"),
        }
        return JSONResponse(body, status_code=409)

    @app.exception_handler(CryptoNotOpened)
    async def _not_opened(_: Request, error: CryptoNotOpened) -> JSONResponse:
        body = {
            "error": "not_opened",
            "detail": str(error),
            "view": error.view.model_dump(mode="json"),
        }
        return JSONResponse(body, status_code=409)

    @app.exception_handler(WithdrawalRejected)
    async def _rejected(_: Request, error: WithdrawalRejected) -> JSONResponse:
        body = {
            "error": "rejected",
            "detail": str(error),
            "withdrawal": error.view.model_dump(mode="json"),
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(PaymentUnavailable)
    async def _unavailable(_: Request, error: PaymentUnavailable) -> JSONResponse:
        logger.warning("answered 503: %s", error)
        body = ErrorBody(error="unavailable", detail="try again later").model_dump()
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse(body, status_code=503, headers=headers)

    @app.exception_handler(PaymentConflict)
    async def _conflict(_: Request, error: PaymentConflict) -> JSONResponse:
        return JSONResponse({"error": "conflict", "detail": str(error)}, status_code=409)
