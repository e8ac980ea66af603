"""One long-lived loopback server per session whose app each test swaps (uvicorn stops slowly)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Receive, Scope, Send

from payflow.http_server import serve


class AppSlot:
    """An ASGI app each test swaps in behind one served port."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None
        self.url = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.app is not None, "no app in this slot"
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def served_slot() -> AsyncIterator[AppSlot]:
    """Serve an empty slot on a free loopback port for the duration of the block."""
    slot = AppSlot()
    async with serve(slot) as server:
        slot.url = server.url
        yield slot
