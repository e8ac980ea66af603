"""Serve every provider simulator from one app, each under its own path prefix."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from fastapi import FastAPI

from sandbox.telemetry import NO_TELEMETRY


def combine(simulators: Mapping[str, FastAPI]) -> FastAPI:
    """Mount each simulator at `/{prefix}` and run their lifespans (Starlette skips mounted ones)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for sub_app in simulators.values():
                await stack.enter_async_context(sub_app.router.lifespan_context(sub_app))
            yield

    app = FastAPI(title="payflow provider sandbox", lifespan=lifespan, telemetry=NO_TELEMETRY)
    for prefix, sub_app in simulators.items():
        app.mount(f"/{prefix}", sub_app)

    @app.get("/")
    async def index() -> dict[str, list[str]]:
        return {"simulators": [f"/{prefix}" for prefix in simulators]}

    return app
