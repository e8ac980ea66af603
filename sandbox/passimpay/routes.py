"""The simulator's FastAPI app: every provider call goes through rate limit, faults, signature.

Order per request: count it, apply the withdraw rate limit, inject a fault that fails before
processing (500, 503, timeout), check the body and `x-signature`, run the endpoint, then
inject `lose_response` (the work is committed, the reply is a 502 that is not JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from providers.passimpay.signing import encode_body, verify
from sandbox.passimpay import control
from sandbox.passimpay.endpoints import ENDPOINTS, Call, Handler
from sandbox.passimpay.store import Refusal
from sandbox.passimpay.withdrawals import BLOCKED
from sandbox.telemetry import NO_TELEMETRY

if TYPE_CHECKING:
    from sandbox.passimpay.simulator import PassimpaySandbox

WITHDRAW = "/v2/withdraw"
_PLAIN = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def build_app(sim: PassimpaySandbox) -> FastAPI:
    """The provider routes, the hosted invoice page and the `/_sandbox` control routes."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sim.resume()
        yield
        await sim.aclose()

    app = FastAPI(title="Passimpay sandbox", lifespan=lifespan, telemetry=NO_TELEMETRY)
    for path, handler in ENDPOINTS.items():
        app.add_api_route(path, _signed(sim, path, handler), methods=["POST"])
    app.include_router(control.router(sim))
    return app


def _reply(fields: dict[str, Any], status_code: int = 200) -> Response:
    """JSON as the provider writes it: compact, slashes escaped."""
    body = encode_body(fields, escape_slashes=True)
    return Response(body, status_code=status_code, media_type="application/json")


def _refused(message: str) -> Response:
    return _reply({"result": 0, "message": message}, 400)


def _base_url(request: Request, path: str) -> str:
    """Where this simulator is reached, mount prefix included (Starlette's base_url drops it)."""
    url = str(request.url.replace(query=""))
    return url.removesuffix(path) if url.endswith(path) else str(request.base_url)


def _platform_id(sim: PassimpaySandbox, payload: Any) -> int | None:
    value = payload.get("platformId") if isinstance(payload, dict) else None
    known = isinstance(value, int) and not isinstance(value, bool) and value in sim.platforms
    return value if known else None


def _signed(
    sim: PassimpaySandbox, path: str, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sim.calls[path] += 1
        raw = await request.body()
        try:
            payload = json.loads(raw, parse_float=Decimal)
        except ValueError:
            payload = None
        named = payload.get("orderId") if isinstance(payload, dict) else None
        sim.journal.append((path, str(named) if named is not None else None))
        platform_id = _platform_id(sim, payload)
        if path == WITHDRAW and not sim.limiter.admit(platform_id, sim.now()):
            return _refused(BLOCKED)
        fault = sim.faults.take(path)
        if fault is not None and fault.mode in ("500", "503"):
            status = int(fault.mode)
            return PlainTextResponse(_PLAIN[status], status_code=status)
        if fault is not None and fault.mode == "timeout":
            await asyncio.sleep(fault.delay)
            return PlainTextResponse("Gateway Timeout", status_code=504)
        try:
            if not isinstance(payload, dict):
                raise Refusal("Invalid JSON")
            if platform_id is None:
                raise Refusal("Invalid platformId")
            secret = sim.platforms[platform_id]
            if not verify(platform_id, raw, secret, request.headers.get("x-signature")):
                raise Refusal("Wrong signature")
            call = Call(platform_id, payload, _base_url(request, path))
            reply = _reply({"result": 1, **handler(sim, call)})
        except Refusal as refusal:
            reply = _refused(refusal.message)
        if fault is not None and fault.mode == "lose_response":
            return PlainTextResponse(_PLAIN[502], status_code=502)
        if fault is not None and fault.mode == "hang":
            await asyncio.sleep(fault.delay)
            return PlainTextResponse("Gateway Timeout", status_code=504)
        return reply

    return endpoint
