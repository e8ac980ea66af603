"""The gateway's front door, a pure ASGI layer ahead of routing: per route family, a body-size
limit enforced while the body arrives and a deadline for it, then a bounded number of requests
in flight (503 at once beyond it, never a queue).

A body is read here, before the request takes a slot, so a sender that dribbles its body holds
no slot: at most one of its family's readers, and only until the read deadline (408). A body
larger than its family's limit is refused at its first byte over the limit (413), or before a
byte is read when its Content-Length says so; a Content-Length is never trusted to be true.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import problem

Family = Literal["callbacks", "documents", "api", "probes"]
FAMILIES: tuple[Family, ...] = ("callbacks", "documents", "api", "probes")
SHED_RETRY_AFTER_SECONDS = 1
LOG_EVERY_SECONDS = 10.0
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
PROBE_SLOTS = 8
"""Probes and scrapes have slots of their own: bounded, yet never shed because the API is busy
(a shed probe would take a busy gateway out of rotation)."""
SLOT = "payflow.slot"
"""Where the request's `Slot` is kept in its ASGI scope."""

logger = logging.getLogger("payflow.gateway.shedding")


def route_family(method: str, path: str) -> Family:
    """Which limits a request meets: provider callbacks and customer returns, document uploads
    (an invoice, the Temporal UI's payloads), probes, or the rest of the API."""
    if path in PROBE_PATHS:
        return "probes"
    if path.startswith(("/webhooks/", "/return/")):
        return "callbacks"
    if path.startswith("/codec/") or (
        method == "POST" and path.startswith("/v1/checkouts/") and path.endswith("/invoice")
    ):
        return "documents"
    return "api"


@dataclass(frozen=True)
class BodyLimits:
    """How large a body each family may send, how long it may take, and how many bodies of one
    family are read at once (memory for bodies stays under readers x limit per family)."""

    callbacks: int = 64 * 1024
    api: int = 256 * 1024
    documents: int = 3 * 1024 * 1024
    read_seconds: float = 10.0
    readers: int = 64

    def max_bytes(self, family: Family) -> int:
        """The largest body `family` may send."""
        if family == "callbacks":
            return self.callbacks
        if family == "documents":
            return self.documents
        return self.api


class Slot:
    """One request's place among those in flight, given back once by whoever is first: the
    front door when the request ends, or a route that waits without working."""

    def __init__(self, pool: asyncio.Semaphore) -> None:
        self._pool = pool
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._pool.release()


def release_slot(request: Request) -> None:
    """Give the request's slot back before it waits on something shared (nothing if none)."""
    slot = request.scope.get(SLOT)
    if isinstance(slot, Slot):
        slot.release()


class _Refused:
    """Why a body was not read whole."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


TOO_LARGE, TIMED_OUT, GONE = _Refused("too_large"), _Refused("timed_out"), _Refused("gone")


class FrontDoor:
    """ASGI middleware: read the body within its family's limits, then take one of `limit`
    slots (provider callbacks: one of `limit` of their own; probes: one of `PROBE_SLOTS`); a
    request that finds no slot within `wait` seconds,
    or no free reader for its body, is answered 503 with Retry-After: 1."""

    def __init__(self, app: ASGIApp, *, limit: int, wait: float, bodies: BodyLimits) -> None:
        self.app = app
        self.limit = limit
        self._wait = wait
        self._bodies = bodies
        self._pools = {
            "api": asyncio.Semaphore(limit),
            "callbacks": asyncio.Semaphore(limit),
            "probes": asyncio.Semaphore(PROBE_SLOTS),
        }
        """Provider callbacks have `limit` slots of their own: a busy merchant API never sheds
        them (a provider retries a callback only a few times, then gives up)."""
        self._readers = {family: asyncio.Semaphore(bodies.readers) for family in FAMILIES}
        self.shed = 0
        """Requests answered 503 for want of a slot or a reader, since the app started."""
        self.refused: dict[str, int] = {"too_large": 0, "timed_out": 0}
        """Bodies answered 413 and 408, since the app started."""
        self._logged_at = -LOG_EVERY_SECONDS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        family = route_family(scope["method"], scope["path"])
        headers = Headers(scope=scope)
        max_bytes = self._bodies.max_bytes(family)
        declared = _content_length(headers)
        if declared is not None and declared > max_bytes:
            await self._refuse(scope, receive, send, TOO_LARGE, max_bytes)
            return
        if declared or "transfer-encoding" in headers:
            readers = self._readers[family]
            if readers.locked():
                await self._shed(scope, receive, send, "too many bodies arriving")
                return
            async with readers:
                body = await _read_body(receive, max_bytes, self._bodies.read_seconds)
            if body is GONE:
                return  # the sender gave up: nobody to answer
            if isinstance(body, _Refused):
                await self._refuse(scope, receive, send, body, max_bytes)
                return
            receive = _replay(body, receive)
        pool = self._pools.get(family, self._pools["api"])
        if not await _take(pool, self._wait):
            await self._shed(scope, receive, send, "too many requests in flight")
            return
        slot = Slot(pool)
        scope[SLOT] = slot
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            pass  # the sender went away while a route listened for it: nobody to answer
        finally:
            slot.release()

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, why: _Refused, max_bytes: int
    ) -> None:
        """413 or 408; the connection is closed, so the rest of the body is never read."""
        self.refused[why.reason] += 1
        close = {"Connection": "close"}
        if why is TOO_LARGE:
            answer = problem(
                413,
                "too_large",
                f"the body is larger than {max_bytes} bytes",
                instance=scope["path"],
                headers=close,
            )
        else:
            answer = problem(
                408,
                "body_timeout",
                f"the body did not arrive within {self._bodies.read_seconds:g} s",
                instance=scope["path"],
                headers=close,
            )
        await answer(scope, receive, send)

    async def _shed(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        self._count_shed()
        answer = problem(
            503,
            "overloaded",
            f"{detail}; retry",
            instance=scope["path"],
            headers={"Retry-After": str(SHED_RETRY_AFTER_SECONDS)},
        )
        await answer(scope, receive, send)

    def _count_shed(self) -> None:
        """Count one shed request; say so in the log at most every LOG_EVERY_SECONDS."""
        self.shed += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            logger.warning(
                "shedding load: %d requests in flight, %d shed so far", self.limit, self.shed
            )


def _content_length(headers: Mapping[str, str]) -> int | None:
    """The declared length; None when absent or unreadable (the server refuses a bad one)."""
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def _read_body(receive: Receive, max_bytes: int, seconds: float) -> bytes | _Refused:
    """The whole body, or why not: over `max_bytes` (stops at the chunk that crosses it), not
    all there within `seconds`, or the sender gone."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return GONE
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_bytes:
                    return TOO_LARGE
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        return TIMED_OUT


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then listens to the sender."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _take(pool: asyncio.Semaphore, wait: float) -> bool:
    """A slot now, or within `wait` seconds; False when none came."""
    if not pool.locked():
        await pool.acquire()  # free: returns without suspending
        return True
    try:
        async with asyncio.timeout(wait):
            await pool.acquire()
    except TimeoutError:
        return False
    return True
