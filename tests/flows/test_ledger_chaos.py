"""Kill -9 of the worker and of the gateway while 100 mixed flows write to the ledger: every
flow's final state is its ledger row, no status entry is lost or doubled, and money that moved
is one entry."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from payflow.devserver import DevServer, stop_process
from payflow.http_server import free_port
from payflow.stack import SANDBOX_PAYMENTASSIST_SECRET
from state.checkout_models import CheckoutView
from state.passimpay_models import InvoiceRequest
from tests.conftest import Stack
from tests.flows.helpers import FAST_POLLING, checkout_request, eventually, new_order_id
from tests.flows.test_checkout_durability import ROOT, start_worker_process
from tests.flows.test_passimpay_invoice import FAST as INVOICE_FAST
from tests.flows.test_passimpay_withdrawal import payout
from tests.payload_keys import PAYLOAD_KEYS_ENV
from workflows.passimpay_invoice import invoice_workflow_id
from workflows.passimpay_withdrawal import withdrawal_workflow_id
from workflows.paymentassist_checkout import checkout_workflow_id

CHECKOUTS, INVOICES, PAYOUTS = 50, 35, 15
MONEY = {
    "checkout": "checkout.funded",
    "invoice": "invoice.received",
    "withdrawal": "withdrawal.paid_out",
}


def process_env(stack: Stack, temporal: DevServer, task_queue: str, port: int) -> dict[str, str]:
    sandbox = stack.sandbox
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal.address,
        "PAYFLOW_INSECURE": "true",  # the simulators' credentials and an open API
        "PAYFLOW_PAYLOAD_KEYS": PAYLOAD_KEYS_ENV,
        "PAYFLOW_STATE_DIR": stack.settings.state_dir,
        "PAYFLOW_TASK_QUEUE": task_queue,
        "PAYFLOW_GATEWAY_PORT": str(port),
        "PAYFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PAYMENTASSIST_API_URL": sandbox.paymentassist_url,
        "PAYMENTASSIST_API_SECRET": SANDBOX_PAYMENTASSIST_SECRET,
        "PASSIMPAY_API_URL": sandbox.passimpay_url,
    }


def start_gateway_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "payflow.cli", "gateway"],
            env=env,
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )


async def until_posted(url: str, body: dict[str, Any]) -> httpx.Response:
    """POST until the gateway answers (it may be dead or restarting): the merchant's retry."""
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(600):
            try:
                answer = await http.post(url, json=body)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if answer.status_code != 503:
                return answer
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never answered")


async def written_state(stack: Stack, order_id: str) -> dict[str, Any]:
    """An open checkout's state once none of its changes waits to be written."""

    async def state() -> CheckoutView:
        return await stack.checkouts.get(order_id)

    view = await eventually(state, lambda found: not found.recorded.pending)
    return view.model_dump(mode="json")


def statuses_of(journal: list[dict[str, Any]], first: str) -> list[str]:
    """The statuses a lifecycle journal went through, in order."""
    seen = [first]
    for entry in journal:
        target = entry.get("target")
        if target and target != seen[-1]:
            seen.append(target)
    return seen


async def test_kill_9_of_worker_and_gateway_loses_and_duplicates_no_entry(
    stack: Stack, temporal_server: DevServer, tmp_path: Path
) -> None:
    sim, lender = stack.sandbox.passimpay, stack.sandbox.paymentassist
    task_queue = f"payflow-chaos-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = process_env(stack, temporal_server, task_queue, port)
    log = tmp_path / "processes.log"
    base = f"http://127.0.0.1:{port}"
    processes = {
        "worker": start_worker_process(env, log),
        "gateway": start_gateway_process(env, log),
    }
    flows: list[tuple[str, str, str]] = []  # kind, order id, workflow id
    parked: set[str] = set()
    """Checkouts whose `/begin` was in flight when the worker died: its outcome is unknown, so
    they wait for an operator (the product's answer), and never end on their own."""

    async def checkout() -> None:
        request = checkout_request(
            timing=FAST_POLLING.model_copy(update={"invoice_watch_seconds": 0})
        )
        answer = await until_posted(f"{base}/v1/checkouts", request.model_dump(mode="json"))
        flows.append(("checkout", request.order_id, checkout_workflow_id(request.order_id)))
        if answer.status_code == 409 and "/begin outcome unknown" in answer.text:
            parked.add(request.order_id)
            return
        assert answer.status_code == 201, answer.text
        await lender.decide(answer.json()["token"], "approve")

    async def invoice() -> None:
        request = InvoiceRequest(
            order_id=new_order_id("inv"),
            amount=Decimal("25.00"),
            timing=INVOICE_FAST,
            late_deposit_window_seconds=0,
        )
        answer = await until_posted(f"{base}/v1/crypto/invoices", request.model_dump(mode="json"))
        assert answer.status_code == 201, answer.text
        await sim.pay(request.order_id)
        flows.append(("invoice", request.order_id, invoice_workflow_id(request.order_id)))

    async def withdrawal() -> None:
        request = payout()
        answer = await until_posted(
            f"{base}/v1/crypto/withdrawals", request.model_dump(mode="json")
        )
        assert answer.status_code == 201, answer.text
        flows.append(("withdrawal", request.order_id, withdrawal_workflow_id(request.order_id)))

    def kill(name: str) -> None:
        processes[name].send_signal(signal.SIGKILL)
        processes[name].wait(timeout=10)
        starter = start_worker_process if name == "worker" else start_gateway_process
        processes[name] = starter(env, log)

    starts: list[Callable[[], Coroutine[Any, Any, None]]] = [
        *[checkout] * CHECKOUTS,
        *[invoice] * INVOICES,
        *[withdrawal] * PAYOUTS,
    ]
    try:
        running: list[asyncio.Task[None]] = []
        for index, start in enumerate(starts):
            running.append(asyncio.create_task(start()))
            if index in (30, 70):
                await asyncio.sleep(0.3)
                kill("worker")  # writes in flight: local activities and their workflow tasks
            if index == 50:
                kill("gateway")  # registrations in flight
            await asyncio.sleep(0.02)
        await asyncio.gather(*running)
        finals = {}
        for kind, order_id, workflow_id in flows:
            handle = stack.client.get_workflow_handle(workflow_id)
            if order_id in parked:  # still open: its state now, once nothing waits to be written
                finals[(kind, order_id)] = await written_state(stack, order_id)
                continue
            finals[(kind, order_id)] = await asyncio.wait_for(handle.result(), 120)
    finally:
        for process in processes.values():
            stop_process(process)
    assert len(flows) == CHECKOUTS + INVOICES + PAYOUTS
    for kind, order_id, _ in flows:
        final = finals[(kind, order_id)]
        record = await stack.ledger.payment(kind, order_id)
        assert record is not None, (kind, order_id)
        if order_id in parked:
            assert not record.closed and record.needs_attention
            assert record.status == final["status"] == "needs_attention"
        else:
            assert record.closed, (kind, order_id)
            assert record.view == {**final, "recorded": {**final["recorded"], "pending": []}}
            ended = {"checkout": "completed", "invoice": "paid", "withdrawal": "paid"}[kind]
            assert record.status == final["status"] == ended
        entries = await stack.ledger.entries_of(kind, order_id)
        changes = [e["status"] for e in entries if e["type"] == f"{kind}.{e['status']}"]
        journal = final["journal"] if kind == "checkout" else final["lifecycle"]["journal"]
        went = statuses_of(journal, "created")
        if changes[:1] != ["created"]:  # its first change left "created" (nothing published it)
            went = went[1:]
        assert changes == went, (kind, order_id, changes)
        money = [e for e in entries if e["type"] == MONEY[kind]]
        if order_id in parked:
            assert money == []
        else:
            assert len(money) == 1 and money[0]["amount"] > 0, (kind, order_id, money)
