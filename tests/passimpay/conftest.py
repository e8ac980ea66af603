"""Passimpay fixtures: the simulator served on loopback, a client for it, a callback receiver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response

from providers.passimpay import DepositCallback, PassimpayClient, parse_callback
from sandbox.passimpay import PassimpaySandbox
from tests.app_slot import AppSlot, served_slot

PLATFORM_ID = 50
SECRET = "sandbox-passimpay-key"


class Eventually(Protocol):
    """Await `condition()` becoming true, failing after `timeout` seconds."""

    async def __call__(self, condition: Callable[[], object], timeout: float = 5.0) -> None: ...


@dataclass(frozen=True)
class Received:
    """One callback as it arrived: raw bytes and headers."""

    body: bytes
    headers: dict[str, str]


def approve_is(sandbox: PassimpaySandbox, order_id: str, approve: int) -> bool:
    """Whether the simulator settled this withdrawal as `approve` (for `eventually`)."""
    withdrawal = sandbox.withdrawal(order_id)
    return withdrawal is not None and withdrawal.approve == approve


class CallbackReceiver:
    """A merchant notification endpoint that records raw callbacks; can answer 500 N times."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_times = 0
        self.url = ""
        self.app = FastAPI()
        self.app.add_api_route("/callback", self._receive, methods=["POST"])

    async def _receive(self, request: Request) -> Response:
        self.received.append(Received(await request.body(), dict(request.headers)))
        if self.fail_times > 0:
            self.fail_times -= 1
            return Response("try again", status_code=500)
        return Response("OK")

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The first `count` callbacks, waiting for them within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"got {len(self.received)} of {count} callbacks"
            await asyncio.sleep(0.01)
        return self.received[:count]


async def _eventually(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def eventually() -> Eventually:
    """Await a condition with a bounded poll instead of a bare sleep."""
    return _eventually


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def receiver_server() -> AsyncIterator[AppSlot]:
    async with served_slot() as slot:
        yield slot


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def sandbox_server() -> AsyncIterator[AppSlot]:
    async with served_slot() as slot:
        yield slot


@pytest_asyncio.fixture(loop_scope="session")
async def receiver(receiver_server: AppSlot) -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    receiver.url = f"{receiver_server.url}/callback"
    receiver_server.app = receiver.app
    yield receiver


@pytest_asyncio.fixture(loop_scope="session")
async def sandbox(
    sandbox_server: AppSlot, receiver: CallbackReceiver
) -> AsyncIterator[PassimpaySandbox]:
    """A fresh simulator per test, with short timings, calling back to `receiver`."""
    sim = PassimpaySandbox(
        callback_url=receiver.url,
        callback_retry_delay=0.05,
        withdraw_settle_seconds=0.2,
        withdraw_min_interval=0.2,
        confirmation_gap=0.05,
    )
    sim.base_url = sandbox_server.url
    sandbox_server.app = sim.app
    yield sim
    await sim.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def client(sandbox: PassimpaySandbox) -> AsyncIterator[PassimpayClient]:
    async with PassimpayClient(sandbox.base_url, PLATFORM_ID, SECRET, timeout=5.0) as client:
        yield client


def deposits(received: list[Received]) -> list[DepositCallback]:
    """Parse deposit callbacks (verifying each signature over the raw body)."""
    parsed = []
    for callback in received:
        item = parse_callback(
            callback.body, callback.headers["x-signature"], platform_id=PLATFORM_ID, secret=SECRET
        )
        assert isinstance(item, DepositCallback)
        parsed.append(item)
    return parsed
