"""Load shedding: beyond a bounded number of requests in flight, say 503 at once, never queue."""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.problems import problem

SHED_RETRY_AFTER_SECONDS = 1
LOG_EVERY_SECONDS = 10.0
EXEMPT_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
EXEMPT_PREFIXES = ("/codec/", "/docs/assets/")
"""Routes served whatever the load: probes and scrapes (a shed probe would take a busy gateway
out of rotation; theirs are a few bounded look-ups), the API's documents and the UI's codec."""

logger = logging.getLogger("payflow.gateway.shedding")


def exempt(path: str) -> bool:
    """Whether a request to `path` is served whatever the load."""
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


class InFlightLimit:
    """ASGI middleware: at most `limit` requests inside at once. A request that finds no slot
    within `wait` seconds is answered 503 with Retry-After: 1, so a burst costs its senders a
    retry instead of every request a growing queue in front of Temporal."""

    def __init__(self, app: ASGIApp, *, limit: int, wait: float) -> None:
        self.app = app
        self.limit = limit
        self._wait = wait
        self._slots = asyncio.Semaphore(limit)
        self.shed = 0
        """Requests answered 503 for want of a slot, since the app started."""
        self._logged_at = -LOG_EVERY_SECONDS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not await self._take_slot():
            self._count_shed()
            answer = problem(
                503,
                "overloaded",
                "too many requests in flight; retry",
                instance=scope["path"],
                headers={"Retry-After": str(SHED_RETRY_AFTER_SECONDS)},
            )
            await answer(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            pass  # the sender gave up before its body arrived: nobody to answer
        finally:
            self._slots.release()

    def _count_shed(self) -> None:
        """Count one shed request; say so in the log at most every LOG_EVERY_SECONDS."""
        self.shed += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            logger.warning(
                "shedding load: %d requests in flight, %d shed so far", self.limit, self.shed
            )

    async def _take_slot(self) -> bool:
        """A slot now, or within `wait` seconds; False when none came."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns without suspending
            return True
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            return False
        return True
