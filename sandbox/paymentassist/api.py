"""HTTP face of the signed endpoints: parameters, signature check, faults and the envelope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from providers.paymentassist.signing import UNSIGNED, verify
from sandbox.paymentassist.faults import REFUSING_MODES
from sandbox.paymentassist.operations import ENDPOINTS, ApiError, Call, Endpoint

if TYPE_CHECKING:
    from sandbox.paymentassist.sandbox import PaymentAssistSandbox


def ok(data: Any) -> JSONResponse:
    """The success envelope."""
    return JSONResponse({"status": "ok", "msg": None, "data": data})


def error(status_code: int, msg: str, data: Any = None) -> JSONResponse:
    """The error envelope every non-2xx answer carries."""
    return JSONResponse({"status": "error", "msg": msg, "data": data}, status_code=status_code)


def _wire(value: Any) -> str:
    """A JSON body value as the signature sees it (booleans true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


async def _read_params(request: Request) -> dict[str, str]:
    """Query string for GET; form or JSON body for POST, values kept exactly as sent."""
    if request.method == "GET":
        return dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(400, "malformed JSON body") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the JSON body must be an object")
        return {str(name): _wire(value) for name, value in body.items()}
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


def _authenticate(sandbox: PaymentAssistSandbox, params: dict[str, str]) -> str:
    """The caller's API key, once its signature over every other parameter checks out."""
    api_key = params.get("api_key", "")
    secret = sandbox.credentials.get(api_key)
    if secret is None:
        raise ApiError(401, "authentication failed: unknown api_key")
    if not verify(params, secret, params.get("signature")):
        raise ApiError(401, "authentication failed: invalid signature")
    return api_key


def _handler(
    sandbox: PaymentAssistSandbox, name: str, endpoint: Endpoint
) -> Callable[[Request], Awaitable[Response]]:
    """Count, apply any armed fault, authenticate, run, and answer in the envelope."""

    async def handle(request: Request) -> Response:
        sandbox.calls[name] += 1
        fault = sandbox.faults.take_endpoint_fault(name)
        if fault is not None and fault.mode in ("500", "503"):
            return error(int(fault.mode), "simulated provider failure")
        if fault is not None and fault.mode in REFUSING_MODES:
            return error(int(fault.mode), f"simulated refusal (HTTP {fault.mode})")
        if fault is not None and fault.mode == "timeout":
            await asyncio.sleep(fault.delay)
            return PlainTextResponse("504 Gateway Time-out", status_code=504)
        try:
            if request.method != endpoint.method:
                raise ApiError(405, f"/{name} takes {endpoint.method}")
            params = await _read_params(request)
            named = params.get("order_id") or params.get("token")
            sandbox.journal.append((name, str(named) if named is not None else None))
            api_key = _authenticate(sandbox, params)
            fields = {key: value for key, value in params.items() if key not in UNSIGNED}
            call = Call(api_key, fields, sandbox.public_url(request))
            response = ok(endpoint.run(sandbox, call))
        except ApiError as refused:
            response = error(refused.status_code, refused.msg, refused.data)
        if fault is not None and fault.mode == "lose_response":
            return PlainTextResponse("502 Bad Gateway", status_code=502)
        if fault is not None and fault.mode == "late_response":
            await asyncio.sleep(fault.delay)
        return response

    return handle


def create_router(sandbox: PaymentAssistSandbox) -> APIRouter:
    """One route per signed endpoint, at the app's root like the real API."""
    router = APIRouter(tags=["api"])
    for name, endpoint in ENDPOINTS.items():
        router.add_api_route(
            f"/{name}", _handler(sandbox, name, endpoint), methods=["GET", "POST"], name=name
        )
    return router
