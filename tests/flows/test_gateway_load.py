"""The gateway answers fast or says no: 503 with Retry-After when Temporal is gone or the gateway
is full, never a 500 and never a request left hanging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest_asyncio

from payflow.devserver import start_dev_server, stop_process
from payflow.http_server import free_port
from payflow.stack import running_gateway
from payflow.temporal_client import connect
from providers.passimpay.signing import encode_body, signature
from providers.paymentassist.signing import sign_webhook
from sandbox.paymentassist.page import signed_return_url
from tests.conftest import Stack
from tests.flows.helpers import another_gateway, checkout_request, new_order_id

SECRET = "demo_sandbox_secret"
PASSIMPAY_PLATFORM, PASSIMPAY_KEY = 50, "sandbox-passimpay-key"
ANSWER_WITHIN = 4.0
"""Seconds a refusal may take on a gateway whose Temporal bounds are 1 s and 2 s."""


def signed_webhook(token: str) -> dict[str, object]:
    payload: dict[str, object] = {
        "event_name": "application.completed",
        "event_data": {"token": token},
        "event_time": "2026-11-22 10:00:00 UTC",
    }
    return {**payload, "signature": sign_webhook(payload, SECRET)}


def signed_deposit(order_id: str) -> tuple[bytes, dict[str, str]]:
    payload = {
        "platformId": PASSIMPAY_PLATFORM,
        "paymentId": 70,
        "orderId": order_id,
        "amount": "12.5",
        "txhash": f"0x{order_id}",
        "addressFrom": "TXsender",
        "confirmations": 1,
    }
    body = encode_body(payload, escape_slashes=True)
    signed = signature(PASSIMPAY_PLATFORM, body, PASSIMPAY_KEY)
    return body, {"content-type": "application/json", "x-signature": signed}


@pytest_asyncio.fixture(loop_scope="session")
async def gateway_without_temporal(stack: Stack) -> AsyncIterator[str]:
    """A gateway whose client connected to a Temporal server that has since stopped."""
    async with start_dev_server() as server:
        client = await connect(server.address)
        stop_process(server.process)
        port = free_port()
        settings = stack.settings.model_copy(
            update={
                "gateway_port": port,
                "public_url": f"http://127.0.0.1:{port}",
                "temporal_rpc_timeout_seconds": 1.0,
                "temporal_update_timeout_seconds": 2.0,
                "temporal_signal_timeout_seconds": 0.5,  # the production default
            }
        )
        async with running_gateway(
            client,
            settings=settings,
            paymentassist=stack.sandbox.paymentassist_settings(),
            passimpay=stack.sandbox.passimpay_settings(),
        ) as gateway:
            yield gateway.url


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """The answer and how long it took."""
    began = time.monotonic()
    response = await request
    return response, time.monotonic() - began


async def test_without_temporal_every_route_answers_503_with_retry_after_quickly(
    stack: Stack, gateway_without_temporal: str
) -> None:
    order_id = new_order_id()
    body = checkout_request(order_id=order_id).model_dump(mode="json")
    token = "0f0e0d0c-0b0a-4908-8706-050403020100"
    returned = signed_return_url(
        f"{gateway_without_temporal}/return/paymentassist?order_id={order_id}",
        token,
        "success",
        SECRET,
    )
    deposit, deposit_headers = signed_deposit(order_id)
    async with httpx.AsyncClient(base_url=gateway_without_temporal, timeout=30) as http:
        calls = {
            "start": http.post("/v1/checkouts", json=body, headers=stack.merchant),
            "read": http.get(f"/v1/checkouts/{order_id}", headers=stack.merchant),
            "webhook": http.post(
                f"/webhooks/paymentassist?order_id={order_id}", json=signed_webhook(token)
            ),
            "return": http.get(returned),
            "passimpay": http.post("/webhooks/passimpay", content=deposit, headers=deposit_headers),
            "withdrawal": http.get(f"/v1/crypto/withdrawals/{order_id}", headers=stack.merchant),
        }
        timings = await asyncio.gather(*(timed(call) for call in calls.values()))
        answers = dict(zip(calls, timings, strict=True))
        health = await http.get("/healthz")
    for name, (response, seconds) in answers.items():
        assert response.status_code == 503, (name, response.status_code, response.text)
        assert int(response.headers["retry-after"]) >= 1, name
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.json()["code"] == "unavailable", name
        assert seconds < ANSWER_WITHIN, (name, seconds)
    assert health.status_code == 200


async def test_a_full_gateway_sheds_at_once_with_retry_after(stack: Stack) -> None:
    held, release = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"event_name": '
        held.set()
        await release.wait()
        yield b'"application.completed"}'

    async with (
        another_gateway(stack, gateway_max_in_flight=1, gateway_slot_wait_seconds=0.2) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        holding = asyncio.ensure_future(
            http.post("/webhooks/paymentassist?order_id=held", content=slow_body())
        )
        await asyncio.wait_for(held.wait(), timeout=5)
        shed: tuple[httpx.Response, float] | None = None
        for _ in range(50):  # until the held request has its slot
            shed = await timed(http.get(f"/v1/checkouts/{new_order_id()}", headers=stack.merchant))
            if shed[0].status_code == 503:
                break
        assert shed is not None
        response, seconds = shed
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["code"] == "overloaded"
        assert seconds < 1.0
        assert (await http.get("/healthz")).status_code == 200  # never shed
        release.set()
        assert (await holding).status_code == 401  # the held body was no signed webhook
        after = await http.get(f"/v1/checkouts/{new_order_id()}", headers=stack.merchant)
        assert after.status_code == 404  # the slot is free again
