"""The gateway answers fast or says no: 503 with Retry-After when Temporal is gone or the gateway
is full, never a 500 and never a request left hanging."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable
from urllib.parse import urlsplit

import httpx
import pytest_asyncio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.app import create_gateway
from payflow.devserver import start_dev_server, stop_process
from payflow.http_server import free_port
from payflow.stack import gateway_services, running_gateway
from payflow.temporal_client import connect
from providers.passimpay.signing import encode_body, signature
from providers.paymentassist.signing import sign_webhook
from sandbox.paymentassist.page import signed_return_url
from tests.app_slot import served_slot
from tests.conftest import Stack
from tests.flows.helpers import another_gateway, checkout_request, eventually, new_order_id
from tests.flows.test_passimpay_address import PLATFORM, signed

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


async def test_without_temporal_routes_answer_503_quickly_and_deposit_callbacks_are_held(
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
    held, seconds = answers.pop("passimpay")  # kept in the ledger: Passimpay's tries are few
    assert held.status_code == 200 and held.json()["target"] == "held", held.text
    assert seconds < ANSWER_WITHIN
    for name, (response, seconds) in answers.items():
        assert response.status_code == 503, (name, response.status_code, response.text)
        assert int(response.headers["retry-after"]) >= 1, name
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.json()["code"] == "unavailable", name
        assert seconds < ANSWER_WITHIN, (name, seconds)
    assert health.status_code == 200


async def test_a_full_gateway_sheds_at_once_with_retry_after(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    begins = sim.calls["begin"]
    sim.faults.fail_next("begin", "late_response", delay=1.5)  # the start holds the only slot

    async def begun() -> int:
        return sim.calls["begin"]

    try:
        async with (
            another_gateway(stack, gateway_max_in_flight=1, gateway_slot_wait_seconds=0.2) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            body = checkout_request().model_dump(mode="json")
            holding = asyncio.ensure_future(
                http.post("/v1/checkouts", json=body, headers=stack.merchant)
            )
            await eventually(begun, lambda calls: calls > begins, interval=0.02)
            response, seconds = await timed(
                http.get(f"/v1/checkouts/{new_order_id()}", headers=stack.merchant)
            )
            assert response.status_code == 503 and response.headers["retry-after"] == "1"
            assert response.json()["code"] == "overloaded"
            assert seconds < 1.0
            callback, headers = signed(
                {
                    "platformId": PLATFORM,
                    "paymentId": 70,
                    "orderId": new_order_id("nobody"),
                    "amount": "1",
                    "txhash": "a1",
                    "confirmations": 1,
                }
            )
            kept = await http.post("/webhooks/passimpay", content=callback, headers=headers)
            assert kept.status_code == 200, kept.text  # provider callbacks: slots of their own
            for probe in ("/healthz", "/readyz"):  # probes have slots of their own
                assert (await http.get(probe)).status_code in (200, 503), probe
            assert (await http.get("/healthz")).status_code == 200
            assert (await holding).status_code == 201
            after = await http.get(f"/v1/checkouts/{new_order_id()}", headers=stack.merchant)
            assert after.status_code == 404  # the slot is free again
    finally:
        sim.faults.clear()


class BytesConsumed:
    """Wraps the gateway app and counts the body bytes it took from the server (`receive`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bytes = 0
        self.requests: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests[scope["path"]] = self.requests.get(scope["path"], 0) + 1

        async def counted() -> Message:
            message = await receive()
            self.bytes += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


@contextlib.asynccontextmanager
async def counted_gateway(
    stack: Stack, **settings: object
) -> AsyncIterator[tuple[str, BytesConsumed]]:
    """A gateway on the shared cluster, its app wrapped in a BytesConsumed; yields its URL."""
    async with (
        served_slot() as slot,
        gateway_services(
            stack.client,
            settings=stack.settings.model_copy(update={"public_url": slot.url, **settings}),
            paymentassist=stack.sandbox.paymentassist_settings(),
            passimpay=stack.sandbox.passimpay_settings(),
            ledger=stack.ledger,
        ) as found,
    ):
        counter = BytesConsumed(create_gateway(found))
        slot.app = counter
        yield slot.url, counter


async def raw_request(url: str, head: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to `url` that has sent `head` (request line and headers) and no body yet."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    writer.write(head.encode() + b"\r\n")
    await writer.drain()
    return reader, writer


async def raw_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the answer on `reader`."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def is_problem(status: int, headers: dict[str, str], body: bytes, code: str) -> bool:
    return headers.get("content-type") == "application/problem+json" and (
        json.loads(body)["code"] == code and json.loads(body)["status"] == status
    )


async def test_a_10_mb_callback_body_is_refused_at_the_limit_without_being_read(
    stack: Stack,
) -> None:
    ten_mb = 10 * 1024 * 1024
    chunk = b"x" * 64 * 1024
    async with counted_gateway(stack) as (url, counter):
        declared = "POST /webhooks/passimpay HTTP/1.1\r\nHost: gateway\r\n"
        reader, writer = await raw_request(url, f"{declared}Content-Length: {ten_mb}\r\n")
        status, headers, body = await asyncio.wait_for(raw_answer(reader), timeout=5)
        writer.close()
        assert status == 413 and is_problem(status, headers, body, "too_large")
        assert headers["connection"] == "close"
        assert counter.bytes == 0  # refused on its Content-Length: not one byte read

        chunked = "POST /webhooks/paymentassist?order_id=big HTTP/1.1\r\nHost: gateway\r\n"
        reader, writer = await raw_request(url, f"{chunked}Transfer-Encoding: chunked\r\n")
        answer = asyncio.ensure_future(raw_answer(reader))
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < ten_mb and not answer.done():  # no length given: it must count
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
        status, headers, body = await asyncio.wait_for(answer, timeout=5)
        writer.close()
    assert status == 413 and is_problem(status, headers, body, "too_large")
    consumed = counter.bytes
    print(f"10 MB chunked callback: {sent} bytes sent, {consumed} consumed by the gateway")
    assert 64 * 1024 < consumed <= 64 * 1024 + 2 * len(chunk)  # the limit and one read over
    assert sent < ten_mb  # the gateway stopped reading: the sender could not push it all


async def test_slow_uploads_hold_no_slot_and_a_callback_is_answered_within_a_second(
    stack: Stack,
) -> None:
    started = await stack.checkouts.start(checkout_request())
    uploads = 100
    invoice = "POST /v1/checkouts/{}/invoice HTTP/1.1\r\nHost: gateway\r\n"
    async with counted_gateway(stack, gateway_body_timeout_seconds=2.0) as (url, counter):
        connections = [
            await raw_request(
                url,
                invoice.format(new_order_id())
                + f"Authorization: {stack.merchant['Authorization']}\r\n"
                + "Content-Type: application/json\r\nContent-Length: 1000000\r\n",
            )
            for _ in range(uploads)
        ]
        for _, writer in connections:
            writer.write(b'{"filetype": "txt", "data_base64": "')  # then nothing more
            await writer.drain()

        async def arrived() -> int:
            return sum(n for path, n in counter.requests.items() if path.endswith("/invoice"))

        await eventually(arrived, lambda n: n == uploads, interval=0.02)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            callback, seconds = await timed(
                http.post(
                    f"/webhooks/paymentassist?order_id={started.order_id}",
                    json=signed_webhook(started.token),
                )
            )
        print(f"callback beside {uploads} slow uploads: {seconds * 1000:.0f} ms")
        assert callback.status_code == 200, callback.text
        assert seconds < 1.0
        answers = await asyncio.wait_for(
            asyncio.gather(*(raw_answer(reader) for reader, _ in connections)), timeout=10
        )
        for _, writer in connections:
            writer.close()
    codes = [(status, json.loads(body)["code"]) for status, _, body in answers]
    assert set(codes) <= {(408, "body_timeout"), (503, "overloaded")}, set(codes)
    assert all(headers["content-type"] == "application/problem+json" for _, headers, _ in answers)
    assert codes.count((408, "body_timeout")) >= 1


async def test_replays_of_one_return_link_leave_merchant_reads_answering(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    sim.faults.drop_webhooks()
    request, other = checkout_request(), checkout_request()
    started = await stack.checkouts.start(request)
    await stack.checkouts.start(other)  # read while the replayed one waits for the lender
    replays = 200
    try:
        async with (
            another_gateway(stack, gateway_max_in_flight=16) as url,
            httpx.AsyncClient(
                base_url=url, timeout=30, limits=httpx.Limits(max_connections=replays + 10)
            ) as http,
        ):
            link = await sim.decide(started.token, "approve")
            link = link.replace(stack.settings.public_url, url)
            checks = sim.calls["status"]
            sim.faults.fail_next("status", "late_response", delay=1.5)  # the lender is slow

            async def status_asked() -> int:
                return sim.calls["status"]

            returns = [asyncio.ensure_future(http.get(link)) for _ in range(replays)]
            await eventually(status_asked, lambda n: n > checks, interval=0.02)
            reads = [
                await timed(http.get(f"/v1/checkouts/{other.order_id}", headers=stack.merchant))
                for _ in range(5)
            ]
            in_flight = sum(not task.done() for task in returns)
            pages = await asyncio.wait_for(asyncio.gather(*returns), timeout=20)
    finally:
        sim.faults.clear()
    slowest = max(seconds for _, seconds in reads)
    print(f"{replays} replays, {in_flight} still waiting: reads 200 in {slowest * 1000:.0f} ms max")
    assert [read.status_code for read, _ in reads] == [200] * len(reads)
    assert in_flight > 0  # the reads were answered while replays waited
    assert [page.status_code for page in pages] == [200] * replays
    assert all("Thank you" in page.text for page in pages)  # approved, or being confirmed
