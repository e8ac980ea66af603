"""A real Payment Assist sandbox, a client and a webhook receiver, all served on loopback.

Each test gets fresh apps; the uvicorn servers behind them live for the whole session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio
from fastapi import FastAPI, Request, Response

from providers.paymentassist import BeginRequest, PaymentAssistClient
from sandbox.paymentassist import PaymentAssistSandbox
from tests.app_slot import AppSlot, served_slot

API_KEY = "demo_key"
SECRET = "demo_sandbox_secret"
WEBHOOK_RETRY_DELAY = 0.05

StartSandbox = Callable[..., Awaitable[PaymentAssistSandbox]]


class WebhookReceiver:
    """A merchant webhook endpoint that records every POST and can fail on purpose."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self._failures_left = 0
        self._arrived = asyncio.Condition()
        self.app = FastAPI()
        self.app.add_api_route("/hook", self._receive, methods=["POST"])

    def fail_next(self, times: int) -> None:
        """Answer 500 to the next `times` deliveries."""
        self._failures_left = times

    async def _receive(self, request: Request) -> Response:
        self.received.append(await request.json())
        code = 500 if self._failures_left > 0 else 200
        self._failures_left = max(0, self._failures_left - 1)
        self.answers.append(code)
        async with self._arrived:
            self._arrived.notify_all()
        return Response(status_code=code)

    async def wait_for(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        """Wait (bounded) until at least `count` deliveries arrived."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received


def begin_request(order_id: str, **overrides: Any) -> BeginRequest:
    """A valid `/begin` for the sandbox's default plan, with chosen fields changed."""
    values: dict[str, Any] = {
        "order_id": order_id,
        "amount": 50_000,
        "email": "ada@example.com",
        "f_name": "Ada",
        "s_name": "Lovelace",
        "addr1": "1 Analytical Row",
        "postcode": "AB1 2CD",
    }
    return BeginRequest(**{**values, **overrides})


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sandbox_slot() -> AsyncIterator[AppSlot]:
    async with served_slot() as slot:
        yield slot


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def receiver_slot() -> AsyncIterator[AppSlot]:
    async with served_slot() as slot:
        yield slot


@pytest_asyncio.fixture(loop_scope="session")
async def start_sandbox(sandbox_slot: AppSlot) -> AsyncIterator[StartSandbox]:
    """Put a fresh sandbox with chosen options behind the served port; it stops after the test."""
    started: list[PaymentAssistSandbox] = []

    async def start(**options: Any) -> PaymentAssistSandbox:
        options.setdefault("webhook_retry_delay", WEBHOOK_RETRY_DELAY)
        sandbox = PaymentAssistSandbox(**options)
        sandbox.base_url = sandbox_slot.url
        sandbox_slot.app = sandbox.app
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        await sandbox.aclose()
    sandbox_slot.app = None


@pytest_asyncio.fixture(loop_scope="session")
async def pa_sandbox(start_sandbox: StartSandbox) -> PaymentAssistSandbox:
    return await start_sandbox()


@pytest_asyncio.fixture(loop_scope="session")
async def pa_client(pa_sandbox: PaymentAssistSandbox) -> AsyncIterator[PaymentAssistClient]:
    async with PaymentAssistClient(pa_sandbox.base_url, API_KEY, SECRET, timeout=5.0) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def receiver(receiver_slot: AppSlot) -> AsyncIterator[WebhookReceiver]:
    hooks = WebhookReceiver()
    hooks.url = f"{receiver_slot.url}/hook"
    receiver_slot.app = hooks.app
    yield hooks
    receiver_slot.app = None
