"""Assemble the sandbox's FastAPI app: signed API, customer page and control routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from sandbox.paymentassist import api, control, page
from sandbox.telemetry import NO_TELEMETRY

if TYPE_CHECKING:
    from sandbox.paymentassist.sandbox import PaymentAssistSandbox


def create_app(sandbox: PaymentAssistSandbox) -> FastAPI:
    """The app to serve (or mount); its startup resumes stored work, its shutdown stops the
    sandbox's timers, deliveries and client."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sandbox.resume()
        yield
        await sandbox.aclose()

    app = FastAPI(title="Payment Assist sandbox", lifespan=lifespan, telemetry=NO_TELEMETRY)
    app.include_router(api.create_router(sandbox))
    app.include_router(page.create_router(sandbox))
    app.include_router(control.create_router(sandbox))
    return app
