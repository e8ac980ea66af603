"""Build the gateway app from its services; nothing global, so tests and the CLI share it."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gateway import (
    checkouts,
    codec,
    crypto,
    metrics,
    passimpay_callbacks,
    paymentassist_callbacks,
    payments,
    readiness,
    withdrawals,
)
from gateway.docs import install_docs
from gateway.errors import install_error_handlers
from gateway.openapi import install_openapi
from gateway.services import GatewayServices
from gateway.shedding import InFlightLimit
from gateway.tracing import FASTAPI_TELEMETRY_OFF, RequestSpans
from payflow.tracing import tracing_enabled

logger = logging.getLogger("payflow.gateway")

DESCRIPTION = (
    "Durable payments on Temporal: Payment Assist checkouts and Passimpay invoices, deposit "
    "addresses and withdrawals. Send the merchant's or an operator's token as "
    "`Authorization: Bearer ...`. Every refusal is an RFC 9457 problem "
    "(`application/problem+json`) whose `code` is stable; a 503 carries `Retry-After`."
)


def create_gateway(found: GatewayServices) -> FastAPI:
    """The whole HTTP side: merchant API, customer returns and provider webhooks."""
    app = FastAPI(
        title="payflow gateway",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        telemetry=FASTAPI_TELEMETRY_OFF,
    )
    app.state.services = found
    if found.return_redirect_url and found.return_secret is None:
        logger.warning(
            "PAYFLOW_RETURN_REDIRECT_URL is set but PAYFLOW_NOTIFY_SECRET is not: customers see "
            "the gateway's own page, since their redirect could not be signed"
        )
    install_error_handlers(app)
    install_docs(app)
    install_openapi(app)
    app.include_router(checkouts.router)
    app.include_router(paymentassist_callbacks.router)
    app.include_router(crypto.router)
    app.include_router(withdrawals.router)
    app.include_router(payments.router)
    app.include_router(passimpay_callbacks.router)
    app.include_router(codec.router)
    app.include_router(readiness.router)
    app.include_router(metrics.router)
    app.add_middleware(InFlightLimit, limit=found.max_in_flight, wait=found.slot_wait_seconds)
    if found.ui_origins:  # the Temporal UI calls the codec from the operator's browser
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(found.ui_origins),
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,
        )

    if tracing_enabled():  # outermost: the span covers shedding and CORS too
        app.add_middleware(RequestSpans)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests (readiness is `/readyz`)."""
        return {"status": "ok"}

    return app
