"""Small test helpers: unique orders, bounded waits, and the customer's browser."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle

from payflow.checkouts import PaymentAssistCheckouts
from payflow.http_server import free_port
from payflow.settings import PayflowSettings
from payflow.stack import running_gateway
from state.checkout_models import CheckoutRequest, CheckoutTiming, CheckoutView, Customer
from tests.payload_keys import CODEC

if TYPE_CHECKING:
    from tests.conftest import Stack

T = TypeVar("T")

SLOW_POLLING = CheckoutTiming(active_poll_seconds=120, idle_poll_seconds=120)
FAST_POLLING = CheckoutTiming(active_poll_seconds=0.3, idle_poll_seconds=0.3)


def new_order_id(prefix: str = "ord") -> str:
    """An order id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def customer(**overrides: str) -> Customer:
    """A plausible applicant."""
    values = {
        "email": "ada@example.com",
        "f_name": "Ada",
        "s_name": "Lovelace",
        "addr1": "1 Analytical Way",
        "postcode": "AB1 2CD",
    }
    return Customer(**{**values, **overrides})


def checkout_request(**overrides: object) -> CheckoutRequest:
    """A checkout for 499.00 GBP that, unless told otherwise, only moves on hints."""
    values: dict[str, object] = {
        "order_id": new_order_id(),
        "amount": 49_900,
        "customer": customer(),
        "description": "Bike service",
        "timing": SLOW_POLLING,
    }
    return CheckoutRequest(**{**values, **overrides})  # type: ignore[arg-type]


def outsider(client: Client) -> Client:
    """A client on the same namespace without payflow's converter or keys: it sends plain JSON,
    as anyone with write access to the namespace can (the Temporal UI, the CLI)."""
    return Client(client.service_client, namespace=client.namespace)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
) -> T:
    """Call `probe` until `accept` holds or `timeout` passes; return the last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = await probe()
    while not accept(value):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await probe()
    return value


async def wait_for_status(
    checkouts: PaymentAssistCheckouts, order_id: str, *statuses: str, timeout: float = 20.0
) -> CheckoutView:
    """The checkout's view once it reaches one of `statuses`."""
    return await eventually(
        lambda: checkouts.get(order_id), lambda view: view.status in statuses, timeout=timeout
    )


@contextlib.asynccontextmanager
async def another_gateway(
    stack: Stack,
    *,
    callback_allowed_ips: set[str] | None = None,
    passimpay_settings: dict[str, object] | None = None,
    **settings: object,
) -> AsyncIterator[str]:
    """A second gateway on the same cluster with other settings; yields its URL."""
    port = free_port()
    payflow = stack.settings.model_copy(
        update={"gateway_port": port, "public_url": f"http://127.0.0.1:{port}", **settings}
    )
    passimpay = stack.sandbox.passimpay_settings(
        callback_allowed_ips=callback_allowed_ips or set(), **(passimpay_settings or {})
    )
    async with running_gateway(
        stack.client,
        settings=payflow,
        paymentassist=stack.sandbox.paymentassist_settings(),
        passimpay=passimpay,
    ) as server:
        yield server.url


def own_settings(stack: Stack, **overrides: object) -> PayflowSettings:
    """The shared settings with a task queue, a withdrawal queue and a gateway port of their
    own, so a worker and gateway started with them can stop without touching the shared ones."""
    port = free_port()
    queue = f"payflow-own-{uuid.uuid4().hex[:8]}"
    return stack.settings.model_copy(
        update={
            "task_queue": queue,
            "withdrawal_task_queue": f"{queue}-withdrawals",
            "gateway_port": port,
            "public_url": f"http://127.0.0.1:{port}",
            **overrides,
        }
    )


async def browser_get(url: str) -> httpx.Response:
    """What the customer's browser does with a redirect: a plain GET, no redirects followed."""
    async with httpx.AsyncClient(timeout=10) as browser:
        return await browser.get(url)


async def decoded_history(handle: WorkflowHandle[Any, Any]) -> str:
    """A workflow's whole history as JSON, with every payload opened (the tests' key) and
    decoded to text: what Temporal holds, as someone with the key would read it."""
    raw = (await handle.fetch_history()).to_json()
    found: list[Payload] = []
    _collect_payloads(json.loads(raw), found)
    opened = await CODEC.decode(found) if CODEC else found
    return raw + "".join(p.data.decode("utf-8", errors="replace") for p in opened)


def _collect_payloads(node: object, found: list[Payload]) -> None:
    if isinstance(node, dict):
        if "data" in node and isinstance(node.get("metadata"), dict):
            found.append(json_format.ParseDict(node, Payload(), ignore_unknown_fields=True))
            return
        for value in node.values():
            _collect_payloads(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect_payloads(value, found)
