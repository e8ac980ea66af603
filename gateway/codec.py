"""The Temporal UI's remote codec: operators see payloads decoded, nobody else does."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, status
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from gateway.auth import operator
from gateway.errors import FORBIDDEN, INVALID, UNAUTHORIZED
from gateway.problems import refusal
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
