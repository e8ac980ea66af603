"""The operator and sandbox commands against the session's Temporal server, worker and sandbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from payflow.checkouts import CheckoutNotStarted
from payflow.cli import app
from payflow.devserver import DevServer
from payflow.reconcile import compare_checkout
from state.checkout_models import CheckoutView
from state.passimpay_models import AddressRequest, InvoiceRequest, InvoiceTiming, UnmatchedCallback
from state.passimpay_withdrawal_models import WithdrawalRequest, WithdrawalTiming
from tests.conftest import OPERATOR, Stack
from tests.flows.helpers import (
    FAST_POLLING,
    checkout_request,
    eventually,
    new_order_id,
    wait_for_status,
)
from tests.payload_keys import PAYLOAD_KEY_ID, PAYLOAD_KEYS_ENV

SLOW_INVOICE = InvoiceTiming(active_poll_seconds=120, idle_poll_seconds=120)
FAST_PAYOUT = WithdrawalTiming(active_poll_seconds=0.3, idle_poll_seconds=0.3)


@pytest.fixture
def env(stack: Stack, temporal_server: DevServer) -> dict[str, str]:
    """What an operator's shell would set to reach the test stack."""
    return {
        "TEMPORAL_ADDRESS": temporal_server.address,
        "PAYFLOW_PAYLOAD_KEYS": PAYLOAD_KEYS_ENV,
        "PAYFLOW_PAYLOAD_KEY_ID": PAYLOAD_KEY_ID,
        "PAYFLOW_TASK_QUEUE": stack.settings.task_queue,
        "PAYFLOW_STATE_DIR": stack.settings.state_dir,
        "PAYFLOW_SANDBOX_URL": stack.sandbox.server.url,
    }


@pytest.fixture
def _healthy_sandbox(stack: Stack) -> Iterator[None]:
    yield
    stack.sandbox.passimpay.faults.clear()
    stack.sandbox.paymentassist.faults.clear()


async def payflow(env: dict[str, str], *args: str) -> Result:
    """Run one command as a shell would, in a thread: it runs its own event loop."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


def refusal(result: Result) -> str:
    """The one line a refused command prints (the session's worker logs share stderr here)."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    line = result.stderr.splitlines()[-1]
    assert line.startswith("refused: ")
    return line


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


async def test_sandbox_approve_then_show_completed(stack: Stack, env: dict[str, str]) -> None:
    request = checkout_request(timing=FAST_POLLING)
    await stack.checkouts.start(request)
    ok(await payflow(env, "sandbox", "approve", request.order_id))
    await wait_for_status(stack.checkouts, request.order_id, "completed")

    shown = json.loads(ok(await payflow(env, "flows", "show", request.order_id, "--json")))
    assert [(flow["kind"], flow["state"]["status"]) for flow in shown] == [
        ("checkout", "completed")
    ]
    assert shown[0]["state"]["provider_status"] == "completed"
    table = ok(await payflow(env, "flows", "show", request.order_id))
    assert "checkout" in table and "completed" in table
    missing = await payflow(env, "flows", "show", new_order_id())
    assert refusal(missing).startswith("refused: no flow")


async def test_flagged_checkout_is_listed_refused_then_closed(
    stack: Stack, env: dict[str, str], _healthy_sandbox: None
) -> None:
    fault = ("sandbox", "fault", "paymentassist", "fail-next", "endpoint=begin")
    bad = await payflow(env, *fault, "mode=sideways")
    assert refusal(bad).startswith("refused: 422")
    ok(await payflow(env, *fault, "mode=lose_response"))
    request = checkout_request()
    with pytest.raises(CheckoutNotStarted):
        await stack.checkouts.start(request)
    order_id = request.order_id

    async def flagged() -> list[dict[str, Any]]:
        listed = await payflow(env, "flows", "list", "--attention", "--json", "--limit", "200")
        return [row for row in json.loads(ok(listed)) if row["order_id"] == order_id]

    (row,) = await eventually(flagged, bool, timeout=10, interval=0.2)
    assert (row["kind"], row["status"], row["needs_attention"]) == (
        "checkout",
        "needs_attention",
        True,
    )
    listed = ok(await payflow(env, "flows", "list", "--attention", "--provider", "paymentassist"))
    assert any(line.split()[:2] == [order_id, "checkout"] for line in listed.splitlines())
    refused = await payflow(env, "flows", "resolve", order_id, "--token", str(uuid.uuid4()))
    assert "could not confirm" in refusal(refused)

    closed = await payflow(
        env, "flows", "resolve", order_id, "--close-reason", "lost", "--actor", OPERATOR, "--json"
    )
    state = json.loads(ok(closed))["state"]
    assert state["status"] == "failed"
    assert state["failure_reason"] == f"closed by {OPERATOR}: lost"
    again = await payflow(env, "flows", "resolve", order_id, "--close-reason", "twice")
    assert "already ended" in refusal(again)


async def test_resolve_needs_one_kind_of_answer(env: dict[str, str]) -> None:
    both = await payflow(env, "flows", "resolve", "any", "--token", "t", "--decision", "paid")
    assert both.exit_code == 2 and "give one of" in both.stderr


async def test_inbox_lists_and_acknowledges(stack: Stack, env: dict[str, str]) -> None:
    key = uuid.uuid4().hex * 2
    item = UnmatchedCallback(
        key=key,
        received_at=datetime.now(UTC),
        order_id=new_order_id("gone"),
        kind="deposit",
        reason="no open invoice or address",
        raw="{}",
    )
    await stack.crypto.record_unmatched(item)

    async def keys() -> list[str]:
        return [
            entry["key"] for entry in json.loads(ok(await payflow(env, "inbox", "list", "--json")))
        ]

    assert key in await eventually(keys, lambda found: key in found, timeout=10)
    assert key[:16] in ok(await payflow(env, "inbox", "list"))
    left = json.loads(
        ok(await payflow(env, "inbox", "ack", key[:20], "--actor", OPERATOR, "--json"))
    )
    assert key not in [entry["key"] for entry in left]
    unknown = await payflow(env, "inbox", "ack", key)
    assert "0 callbacks" in refusal(unknown)


async def test_reconcile_fix_reads_a_payment_whose_callbacks_were_lost(
    stack: Stack, env: dict[str, str], _healthy_sandbox: None
) -> None:
    request = InvoiceRequest(
        order_id=new_order_id("inv"), amount=Decimal("100.00"), timing=SLOW_INVOICE
    )
    await stack.crypto.create_invoice(request)
    order_id = request.order_id
    await eventually(
        lambda: stack.crypto.get_invoice(order_id), lambda view: view.provider is not None
    )
    ok(await payflow(env, "sandbox", "fault", "passimpay", "drop-callbacks"))
    paid = json.loads(ok(await payflow(env, "sandbox", "pay", order_id, "--json")))
    assert len(paid) == 1 and paid[0]["txhash"]

    (before,) = json.loads(ok(await payflow(env, "reconcile", order_id, "--json")))
    assert (before["ours"], before["verdict"]) == ("awaiting_payment", "agrees")
    assert before["provider"].startswith("wait")

    fixed = await payflow(env, "reconcile", order_id, "--fix", "--json")
    (after,) = json.loads(ok(fixed))
    assert (after["ours"], after["verdict"]) == ("paid", "agrees")
    assert after["provider"].startswith("paid") and after["note"].startswith("read again")
    assert after["read_at"] > before["read_at"]
    table = ok(await payflow(env, "reconcile", order_id))
    assert "invoice: compared /v3/orderstatus status and amountPaid" in table


def test_a_checkout_the_lender_ended_otherwise_is_drift() -> None:
    view = CheckoutView(order_id="o-1", status="completed", amount=100, provider_status="failed")
    assert compare_checkout("o-1", view).verdict == "drift"
    assert compare_checkout("o-1", view.model_copy(update={"provider_status": None})).verdict == (
        "unread"
    )


async def test_sandbox_deposit_shows_in_the_address_ledger(
    stack: Stack, env: dict[str, str]
) -> None:
    order_id = new_order_id("addr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=70))
    said = ok(await payflow(env, "sandbox", "deposit", order_id, "25"))
    txhash = said.rsplit(" ", 1)[-1].strip()
    view = await eventually(
        lambda: stack.crypto.get_address(order_id), lambda v: v.credited_total == Decimal("25")
    )
    assert view.status == "open"
    shown = ok(await payflow(env, "flows", "show", order_id, "--provider", "passimpay"))
    assert txhash in shown and "credited" in shown


async def test_sandbox_settles_a_payout_failed(stack: Stack, env: dict[str, str]) -> None:
    sim = stack.sandbox.passimpay
    saved = sim.withdraw_settle_seconds
    sim.withdraw_settle_seconds = 600
    try:
        request = WithdrawalRequest(
            order_id=new_order_id("wd"),
            payment_id=70,
            address_to="TJRabPrwbZy45sbavfcjinPJC18kjpRTv8",
            amount=Decimal("12.5"),
            timing=FAST_PAYOUT,
            late_callback_window_seconds=0,
        )
        await stack.withdrawals.request(request)
        await eventually(
            lambda: stack.withdrawals.get(request.order_id), lambda v: v.status == "pending"
        )
        ok(await payflow(env, "sandbox", "settle", request.order_id, "failed", "--reason", "x"))
        view = await eventually(
            lambda: stack.withdrawals.get(request.order_id), lambda v: v.status == "failed"
        )
        assert view.provider_approve == 2
    finally:
        sim.withdraw_settle_seconds = saved
    refused = await payflow(env, "sandbox", "settle", new_order_id(), "paid")
    assert "no withdrawal" in refusal(refused)


async def test_sandbox_pays_an_invoice_in_part_then_split(
    stack: Stack, env: dict[str, str]
) -> None:
    request = InvoiceRequest(
        order_id=new_order_id("inv"), amount=Decimal("100.00"), timing=SLOW_INVOICE
    )
    await stack.crypto.create_invoice(request)
    ok(await payflow(env, "sandbox", "pay", request.order_id, "--amount", "40"))
    await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.status == "partially_paid"
    )
    split = ok(
        await payflow(
            env, "sandbox", "pay", request.order_id, "--part", "70=30", "--part", "10", "--json"
        )
    )
    assert [p["payment_id"] for p in json.loads(split)] == [70, 10]
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id), lambda v: v.status == "paid"
    )
    assert {d.payment_id for d in view.deposits} == {70, 10}


async def test_sandbox_declines_a_checkout_and_expires_an_invoice(
    stack: Stack, env: dict[str, str]
) -> None:
    checkout = checkout_request(timing=FAST_POLLING)
    await stack.checkouts.start(checkout)
    ok(await payflow(env, "sandbox", "decline", checkout.order_id))
    await wait_for_status(stack.checkouts, checkout.order_id, "failed")  # the lender declined
    invoice = InvoiceRequest(
        order_id=new_order_id("inv"),
        amount=Decimal("10.00"),
        timing=InvoiceTiming(active_poll_seconds=0.3, idle_poll_seconds=0.3),
    )
    await stack.crypto.create_invoice(invoice)
    ok(await payflow(env, "sandbox", "expire", invoice.order_id))
    await eventually(
        lambda: stack.crypto.get_invoice(invoice.order_id), lambda v: v.status == "expired"
    )


@pytest.mark.usefixtures("_healthy_sandbox")
async def test_sandbox_faults_are_armed_and_cleared(stack: Stack, env: dict[str, str]) -> None:
    lender = stack.sandbox.paymentassist.faults
    args = ("sandbox", "fault", "paymentassist", "fail-next", "endpoint=status", "mode=503")
    ok(await payflow(env, *args))
    assert lender.snapshot()["endpoints"]
    ok(await payflow(env, "sandbox", "fault", "paymentassist", "clear"))
    assert not lender.snapshot()["endpoints"]
    ok(await payflow(env, "sandbox", "fault", "passimpay", "drop-callbacks", "times=1"))
    assert stack.sandbox.passimpay.faults.take_drop()
    assert not stack.sandbox.passimpay.faults.take_drop()  # one armed, one taken
