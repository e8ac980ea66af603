"""The Temporal UI's remote codec: operators see payloads decoded, nobody else does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, status
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from gateway.auth import operator
from gateway.errors import FORBIDDEN, INVALID, UNAUTHORIZED
from gateway.problems import problem, refusal
from gateway.services import GatewayServices, services

CODEC_PATH = "/codec"
PAYLOADS_EXAMPLE = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}]}
"""Temporal's JSON form of payloads: base64 metadata and data (here `json/plain`, `{}`)."""

router = APIRouter(
    prefix=CODEC_PATH,
    tags=["temporal ui codec"],
    dependencies=[Depends(operator)],
    responses={
        **UNAUTHORIZED,
        **FORBIDDEN,
        **INVALID,
        404: refusal("no payload codec is configured"),
    },
)


class CodecCORS(CORSMiddleware):
    """Starlette's CORS for the Temporal UI's origin, whose preflight refusal is a problem
    document like every other refusal (Starlette's own is plain text)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                answer = self.preflight_response(request_headers=headers)
                if answer.status_code >= 400:
                    answer = problem(
                        answer.status_code,
                        "cors_refused",
                        f"{bytes(answer.body).decode()}: this origin, method or header may not "
                        "call the codec",
                        instance=scope["path"],
                        headers={k: v for k, v in answer.headers.items() if k in CORS_KEPT},
                    )
                await answer(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


CORS_KEPT = frozenset(
    {"access-control-allow-origin", "access-control-allow-methods", "access-control-max-age"}
    | {"access-control-allow-headers", "access-control-allow-credentials", "vary"}
)
"""The preflight's own headers a refusal keeps (the browser reads the problem with them)."""


def install_codec_cors(app: FastAPI, origins: Iterable[str]) -> None:
    """Let the Temporal UI's origins call the codec with an operator's token."""
    app.add_middleware(
        CodecCORS,
        allow_origins=list(origins),
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )


def _payloads(body: dict[str, Any]) -> list[Payload]:
    try:
        return list(json_format.ParseDict(body, Payloads()).payloads)
    except json_format.ParseError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not a payloads body: {error}") from None


def _body(payloads: list[Payload]) -> dict[str, Any]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


async def open_payloads(codec: PayloadCodec, body: dict[str, Any]) -> dict[str, Any]:
    """The remote codec's `/decode`: 400 for a body that is not payloads or will not open."""
    try:
        return _body(await codec.decode(_payloads(body)))
    except ValueError as error:  # unknown key id, failed check: no key material in it
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


async def seal_payloads(codec: PayloadCodec, body: dict[str, Any]) -> dict[str, Any]:
    """The remote codec's `/encode`."""
    return _body(await codec.encode(_payloads(body)))


@router.post("/decode", responses={400: refusal("not a payloads body, or one that will not open")})
async def decode(
    body: dict[str, Any] = Body(..., examples=[PAYLOADS_EXAMPLE]),
    found: GatewayServices = Depends(services),
) -> dict[str, Any]:
    """Operator (or the Temporal UI on an operator's behalf): open sealed payloads."""
    if found.codec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no payload codec is configured")
    return await open_payloads(found.codec, body)


@router.post("/encode", responses={400: refusal("not a payloads body, or one that will not open")})
async def encode(
    body: dict[str, Any] = Body(..., examples=[PAYLOADS_EXAMPLE]),
    found: GatewayServices = Depends(services),
) -> dict[str, Any]:
    """Seal payloads the UI sends (a signal or query argument typed in by an operator)."""
    if found.codec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no payload codec is configured")
    return await seal_payloads(found.codec, body)
