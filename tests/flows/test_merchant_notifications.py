"""The merchant hears of every change: signed, in order, once each (at least once with the same
id), retried while its endpoint fails, and visible in the flow's state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from typer.testing import CliRunner

from payflow.cli import app
from payflow.devserver import DevServer
from payflow.http_server import serve
from payflow.notifications import EVENT_ID_HEADER, SIGNATURE_HEADER, verify_event
from state.notifications import MerchantEvent
from state.passimpay_models import InvoiceRequest, InvoiceTiming
from tests.conftest import NOTIFY_SECRET, Stack
from tests.flows.helpers import (
    another_gateway,
    checkout_request,
    eventually,
    new_order_id,
    wait_for_status,
)
from tests.payload_keys import PAYLOAD_KEYS_ENV


@dataclass
class MerchantEndpoint:
    """A merchant's backend: fails the first `failures` requests, verifies and keeps the rest."""

    url: str = ""
    failures: int = 0
    attempts: list[str] = field(default_factory=list)
    received: list[MerchantEvent] = field(default_factory=list)

    def for_order(self, order_id: str) -> list[MerchantEvent]:
        return [e for e in self.received if e.data.order_id == order_id]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks")
        async def hooks(request: Request) -> Response:
            body = await request.body()
            event = verify_event(body, request.headers[SIGNATURE_HEADER], NOTIFY_SECRET)
            assert request.headers[EVENT_ID_HEADER] == event.id
            self.attempts.append(event.id)
            if self.failures > 0:
                self.failures -= 1
                return Response(status_code=500)
            self.received.append(event)
            return Response(status_code=204)

        return app


@pytest_asyncio.fixture(loop_scope="session")
async def merchant() -> AsyncIterator[MerchantEndpoint]:
    endpoint = MerchantEndpoint()
    async with serve(endpoint.app()) as server:
        endpoint.url = f"{server.url}/hooks"
        yield endpoint


async def test_checkout_events_in_order_retried_and_signed(
    stack: Stack, merchant: MerchantEndpoint
) -> None:
    merchant.failures = 1  # the first delivery fails: Temporal retries it with the same id
    request = checkout_request(notify_url=merchant.url)
    started = await stack.checkouts.start(request)
    await stack.sandbox.paymentassist.decide(started.token, "approve")
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    events = await eventually(
        lambda: _async(merchant.for_order(request.order_id)), lambda got: len(got) >= 3
    )
    assert [e.type for e in events] == [
        "checkout.created",
        "checkout.awaiting_customer",
        "checkout.completed",
    ]
    assert [e.sequence for e in events] == [1, 2, 3]
    assert events[2].data.previous_status == "awaiting_customer"
    assert len({e.id for e in events}) == 3
    assert merchant.attempts.count(events[0].id) == 2  # failed once, then delivered

    view = await eventually(
        lambda: stack.checkouts.get(request.order_id),
        lambda v: all(e.delivery == "delivered" for e in v.notifications.entries),
    )
    assert [e.attempts for e in view.notifications.entries] == [2, 1, 1]
    assert view.notifications.url == merchant.url


async def test_invoice_events_reach_the_merchant(stack: Stack, merchant: MerchantEndpoint) -> None:
    request = InvoiceRequest(
        order_id=new_order_id("inv"),
        amount=Decimal("25.00"),
        timing=InvoiceTiming(active_poll_seconds=120, idle_poll_seconds=120),
        notify_url=merchant.url,
    )
    await stack.crypto.create_invoice(request)
    await stack.sandbox.passimpay.pay(request.order_id)
    events = await eventually(
        lambda: _async(merchant.for_order(request.order_id)),
        lambda got: any(e.data.status == "paid" for e in got),
    )
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    paid = next(e for e in events if e.data.status == "paid")
    assert paid.type == "invoice.paid" and paid.data.flow == "invoice"
    assert [e.type for e in events[:2]] == ["invoice.created", "invoice.awaiting_payment"]


async def test_no_url_no_events(stack: Stack, merchant: MerchantEndpoint) -> None:
    request = checkout_request()
    started = await stack.checkouts.start(request)
    await stack.sandbox.paymentassist.decide(started.token, "approve")
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.notifications.url is None and view.notifications.entries == []


async def _async(value: list[MerchantEvent]) -> list[MerchantEvent]:
    return value


async def test_events_replay_resends_the_same_ids(
    stack: Stack, merchant: MerchantEndpoint, temporal_server: DevServer
) -> None:
    request = checkout_request(notify_url=merchant.url)
    started = await stack.checkouts.start(request)
    await stack.sandbox.paymentassist.decide(started.token, "approve")
    view = await eventually(
        lambda: stack.checkouts.get(request.order_id),
        lambda v: (
            v.status == "completed"
            and all(e.delivery == "delivered" for e in v.notifications.entries)
        ),
    )
    sent = [e.event.id for e in view.notifications.entries]
    env = {
        "TEMPORAL_ADDRESS": temporal_server.address,
        "PAYFLOW_TASK_QUEUE": stack.settings.task_queue,
        "PAYFLOW_STATE_DIR": stack.settings.state_dir,
        "PAYFLOW_NOTIFY_SECRET": NOTIFY_SECRET,
        "PAYFLOW_PAYLOAD_KEYS": PAYLOAD_KEYS_ENV,
    }
    args = ["events", "replay", request.order_id, "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert [a["id"] for a in answers] == sent and {a["answer"] for a in answers} == {204}
    again = merchant.for_order(request.order_id)
    assert [e.id for e in again] == sent + sent  # verified again by the merchant, same ids


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hooks", "https://10.0.0.7/hooks", "https://169.254.169.254/x"]
)
async def test_a_notify_url_into_our_own_network_is_refused_at_the_door(
    stack: Stack, url: str
) -> None:
    """In production settings; nothing is registered, so the order id stays usable."""
    order_id = new_order_id("inv")
    body = {"order_id": order_id, "amount": "10.00"}
    async with (
        another_gateway(stack, notify_private_hosts=False) as gateway,
        httpx.AsyncClient(base_url=gateway, headers=stack.merchant, timeout=10) as http,
    ):
        refused = await http.post("/v1/crypto/invoices", json={**body, "notify_url": url})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "notify_url_refused"
        assert refused.json()["fields"] == ["notify_url"]
        started = await http.post("/v1/crypto/invoices", json=body)
    assert started.status_code == 201, started.text
