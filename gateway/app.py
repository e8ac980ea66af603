"""Build the gateway app from its services; nothing global, so tests and the CLI share it."""

from __future__ import annotations

import logging

from fastapi import FastAPI

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
from gateway.codec import install_codec_cors
from gateway.docs import install_docs
from gateway.errors import install_error_handlers
from gateway.openapi import install_openapi
from gateway.services import GatewayServices
from gateway.shared_waits import SharedWaits
from gateway.shedding import FrontDoor
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
    app.state.return_waits = SharedWaits[str](
        keys=found.max_in_flight, per_key=paymentassist_callbacks.RETURN_WAITERS
    )
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
    app.add_middleware(
        FrontDoor, limit=found.max_in_flight, wait=found.slot_wait_seconds, bodies=found.bodies
    )
    if found.ui_origins:  # the Temporal UI calls the codec from the operator's browser
        install_codec_cors(app, found.ui_origins)  # outside: its refusals carry CORS headers

    if tracing_enabled():  # outermost: the span covers the front door and CORS too
        app.add_middleware(RequestSpans)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests (readiness is `/readyz`)."""
        return {"status": "ok"}

    return app
