"""HTTP answers for the Python API's errors: 404 unknown, 409 not legal now, 422 bad input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from payflow.checkouts import CheckoutNotStarted
from payflow.crypto import CryptoNotOpened
from payflow.withdrawals import WithdrawalRejected
from payflow.workflow_calls import PaymentConflict, PaymentNotFound


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping once per app."""

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

    @app.exception_handler(PaymentConflict)
    async def _conflict(_: Request, error: PaymentConflict) -> JSONResponse:
        return JSONResponse({"error": "conflict", "detail": str(error)}, status_code=409)
