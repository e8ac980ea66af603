"""A simulator on the same state file carries on: invoices, addresses, deposits, withdrawals,
platforms, and the confirmations, settlements and callbacks it still owed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from providers.passimpay import CreateOrderRequest, PassimpayClient, WithdrawRequest
from sandbox.passimpay import PassimpaySandbox
from sandbox.passimpay.currencies import CURRENCIES
from tests.app_slot import AppSlot

from .conftest import PLATFORM_ID, SECRET, CallbackReceiver, Eventually, approve_is, deposits

TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
OTHER_PLATFORM = 51


@contextlib.asynccontextmanager
async def simulator(
    server: AppSlot, receiver: CallbackReceiver, state: Path, **options: Any
) -> AsyncIterator[PassimpaySandbox]:
    """A persistent simulator behind the served slot, resumed as serving it would; closed after."""
    options = {"callback_retry_delay": 0.05, "confirmation_gap": 0.05, **options}
    sim = PassimpaySandbox(callback_url=receiver.url, state_file=state, **options)
    sim.base_url = server.url
    server.app = sim.app
    sim.resume()
    try:
        yield sim
    finally:
        await sim.aclose()


async def test_state_survives_a_restart(
    sandbox_server: AppSlot, receiver: CallbackReceiver, tmp_path: Path, eventually: Eventually
) -> None:
    state = tmp_path / "passimpay.db"
    platforms = {PLATFORM_ID: SECRET, OTHER_PLATFORM: "other-platform-key"}
    async with (
        simulator(sandbox_server, receiver, state, platforms=platforms) as first,
        PassimpayClient(first.base_url, PLATFORM_ID, SECRET, timeout=5.0) as client,
    ):
        request = CreateOrderRequest(order_id="keep-inv", amount=Decimal("100.00"))
        await client.create_order(request)
        await first.deposit("keep-inv", Decimal("40"))
        usdt = await client.address(70, "keep-h2h")
        xrp = await client.address(80, "keep-h2h-xrp")
        await first.deposit("keep-h2h", Decimal("25"))
        withdraw = WithdrawRequest(
            payment_id=70, address_to=TRON, amount=Decimal("10"), order_id="keep-wd"
        )
        paid_out = await client.withdraw(withdraw)
        first.settle_withdrawal("keep-wd", 1)
        await first.wait_idle()
        invoice_status = await client.order_status_v3("keep-inv")
        h2h_status = await client.order_status_v3("keep-h2h")
        withdrawal_status = await client.withdraw_status(order_id="keep-wd")
        before = (
            first.invoices.by_order["keep-inv"],
            first.addresses.by_order,
            first.deposits,
            first.withdrawal("keep-wd"),
            dict(first.payouts),
        )
    callbacks = len(receiver.received)

    async with (
        simulator(sandbox_server, receiver, state) as second,
        PassimpayClient(second.base_url, PLATFORM_ID, SECRET, timeout=5.0) as client,
    ):
        after = (
            second.invoices.by_order["keep-inv"],
            second.addresses.by_order,
            second.deposits,
            second.withdrawal("keep-wd"),
            dict(second.payouts),
        )
        assert after == before
        assert second.platforms[OTHER_PLATFORM] == "other-platform-key"
        assert await client.order_status_v3("keep-inv") == invoice_status
        assert invoice_status.status == "wait" and invoice_status.amount_paid == Decimal("40")
        assert await client.order_status_v3("keep-h2h") == h2h_status
        assert await client.address(70, "keep-h2h") == usdt
        assert await client.address(80, "keep-h2h-xrp") == xrp
        by_id = await client.withdraw_status(transaction_id=paid_out.transaction_id)
        assert by_id == withdrawal_status and by_id.approve == 1

        await second.pay("keep-inv")  # the rest of the invoice, after the restart
        await eventually(lambda: len(receiver.received) == callbacks + 1)
        assert (await client.order_status_v3("keep-inv")).status == "paid"
        await second.wait_idle()
    assert len(receiver.received) == callbacks + 1  # nothing acknowledged was sent again


async def test_an_owed_callback_is_sent_after_a_restart_and_never_twice(
    sandbox_server: AppSlot, receiver: CallbackReceiver, tmp_path: Path, eventually: Eventually
) -> None:
    state = tmp_path / "passimpay.db"
    async with simulator(sandbox_server, receiver, state, callback_retry_delay=0.5) as first:
        first.addresses.address(PLATFORM_ID, "owed", CURRENCIES[70])
        receiver.fail_times = 1
        txhash = await first.deposit("owed", Decimal("5"))
        await eventually(lambda: len(first.callback_log) == 1)  # failed; retry 0.5 s away

    async with simulator(sandbox_server, receiver, state) as second:
        await second.wait_idle()
        assert [(d.attempt, d.ok) for d in second.callback_log] == [(2, True)]

    assert [c.txhash for c in deposits(receiver.received)] == [txhash, txhash]
    async with simulator(sandbox_server, receiver, state) as third:
        await third.wait_idle()
        assert third.callback_log == []
    assert len(receiver.received) == 2


async def test_a_second_confirmation_owed_is_sent_after_a_restart(
    sandbox_server: AppSlot, receiver: CallbackReceiver, tmp_path: Path, eventually: Eventually
) -> None:
    state = tmp_path / "passimpay.db"
    async with simulator(sandbox_server, receiver, state, confirmation_gap=0.5) as first:
        first.addresses.address(PLATFORM_ID, "owed-btc", CURRENCIES[10])
        await first.deposit("owed-btc", Decimal("0.01"))
        await eventually(lambda: [d.ok for d in first.callback_log] == [True])

    async with simulator(sandbox_server, receiver, state, confirmation_gap=0.5) as second:
        await second.wait_idle()

    assert [c.confirmations for c in deposits(receiver.received)] == [1, 2]


async def test_a_pending_withdrawal_settles_after_a_restart(
    sandbox_server: AppSlot, receiver: CallbackReceiver, tmp_path: Path, eventually: Eventually
) -> None:
    state = tmp_path / "passimpay.db"
    request = WithdrawRequest(payment_id=70, address_to=TRON, amount=Decimal("3"), order_id="wd")
    async with (
        simulator(sandbox_server, receiver, state, withdraw_settle_seconds=0.5) as first,
        PassimpayClient(first.base_url, PLATFORM_ID, SECRET, timeout=5.0) as client,
    ):
        await client.withdraw(request)
        assert approve_is(first, "wd", 0)

    async with simulator(sandbox_server, receiver, state, withdraw_settle_seconds=0.5) as second:
        await eventually(lambda: approve_is(second, "wd", 1))
        assert second.payouts["wd"] == 1
