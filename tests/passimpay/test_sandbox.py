"""The simulator behaves like the provider: invoices, H2H deposits, callbacks, withdrawals, faults."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from payflow.http_server import serve
from providers.errors import Refused, Transient
from providers.passimpay import (
    CreateOrderRequest,
    NotFound,
    PassimpayClient,
    WithdrawRequest,
    signature,
)
from providers.passimpay.signing import encode_body
from sandbox.passimpay import PassimpayFaults, PassimpaySandbox

from .conftest import (
    PLATFORM_ID,
    SECRET,
    CallbackReceiver,
    Eventually,
    approve_is,
    deposits,
)

TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


async def invoice(client: PassimpayClient, order_id: str, amount: str = "100.00", **kw: Any) -> str:
    request = CreateOrderRequest(order_id=order_id, amount=Decimal(amount), **kw)
    return (await client.create_order(request)).url


def withdraw_request(order_id: str, amount: str = "10") -> WithdrawRequest:
    return WithdrawRequest(
        payment_id=70, address_to=TRON, amount=Decimal(amount), order_id=order_id
    )


# --- invoices -----------------------------------------------------------------------------


async def test_invoice_paid_in_full(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await invoice(client, "inv-full")
    txhash = await sandbox.deposit("inv-full", Decimal("100"))
    (callback,) = deposits(await receiver.wait_for(1))
    assert (callback.order_id, callback.amount, callback.txhash) == ("inv-full", 100, txhash)
    assert json.loads(receiver.received[0].body)["type"] == "invoice"  # extra fields exist
    status = await client.order_status_v3("inv-full")
    assert (status.status, status.amount_paid) == ("paid", Decimal("100.00"))
    assert status.fee_service == Decimal("0.50")
    assert status.amount_credited_merchant == Decimal("99.50")
    assert status.amount_credited_user == Decimal("100.00")


async def test_invoice_partial_then_top_up(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await invoice(client, "inv-part")
    await sandbox.deposit("inv-part", Decimal("40"))
    await receiver.wait_for(1)
    status = await client.order_status("inv-part")
    assert (status.status, status.amount_paid) == ("wait", Decimal("40.00"))
    await sandbox.deposit("inv-part", Decimal("60"))
    assert [c.amount for c in deposits(await receiver.wait_for(2))] == [40, 60]
    status = await client.order_status("inv-part")
    assert (status.status, status.amount_paid) == ("paid", Decimal("100.00"))


async def test_invoice_split_over_two_currencies(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await invoice(client, "inv-split", currencies=[70, 10])
    await sandbox.pay("inv-split", payment_id=70, amount=Decimal("50"))
    assert (await client.order_status("inv-split")).status == "wait"
    await sandbox.pay("inv-split", payment_id=10)  # the rest, in BTC at rateUsd
    callbacks = deposits(await receiver.wait_for(3))  # USDT once, BTC at 1 and 2 confirmations
    btc = [c for c in callbacks if c.payment_id == 10]
    assert [c.confirmations for c in btc] == [1, 2]
    assert btc[0].amount * Decimal("65000.00") >= 50
    status = await client.order_status("inv-split")
    assert (status.status, status.amount_paid) == ("paid", Decimal("100.00"))
    with pytest.raises(ValueError, match="not accepted"):
        await sandbox.pay("inv-split", payment_id=80, amount=Decimal("1"))


async def test_invoice_expires_with_partial_payment_kept(
    sandbox: PassimpaySandbox, client: PassimpayClient, eventually: Eventually
) -> None:
    await invoice(client, "inv-exp")
    await sandbox.deposit("inv-exp", Decimal("30"))
    sandbox.expire_invoice("inv-exp")
    status = await client.order_status("inv-exp")
    assert (status.status, status.amount_paid) == ("error", Decimal("30.00"))
    sandbox.invoice_lifetime = 0.5
    await invoice(client, "inv-exp-2")
    assert (await client.order_status("inv-exp-2")).status == "wait"
    expiring = sandbox.invoices.by_order["inv-exp-2"]
    await eventually(lambda: expiring.status(sandbox.now()) == "error")
    assert (await client.order_status("inv-exp-2")).status == "error"


async def test_deposit_after_expiry_still_calls_back(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await invoice(client, "inv-late")
    sandbox.expire_invoice("inv-late")
    txhash = await sandbox.deposit("inv-late", Decimal("100"))
    (callback,) = deposits(await receiver.wait_for(1))
    assert callback.txhash == txhash
    status = await client.order_status("inv-late")
    assert (status.status, status.amount_paid) == ("error", Decimal("100.00"))
    assert sandbox.invoices.by_order["inv-late"].payments[0].late


async def test_invoice_refusals(client: PassimpayClient, sandbox: PassimpaySandbox) -> None:
    raw = {"orderId": "inv-raw", "amount": "10.5", "platformId": PLATFORM_ID}
    assert (await post(sandbox, "/v2/createorder", raw)) == {
        "result": 0,
        "message": "Invalid amount",
    }
    raw = {**raw, "amount": "10.50", "symbol": "XYZ"}
    assert (await post(sandbox, "/v2/createorder", raw))["message"] == "Invalid symbol"
    await invoice(client, "inv-eur", "10.00", symbol="EUR")
    assert (await client.order_status("inv-eur")).currency == "EUR"


async def test_hosted_page_renders_and_pays_in_full(
    client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    url = await invoice(client, "inv/page", "42.00")
    async with httpx.AsyncClient(follow_redirects=True) as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "42.00 USD" in page.text and 'action="../_sandbox/pay/inv%2Fpage"' in page.text
        action = httpx.URL(url).join("../_sandbox/pay/inv%2Fpage")
        paid = await browser.post(action, data={"payment_id": "70", "amount": ""})
        assert paid.status_code == 200 and str(paid.url) == url
        assert '<strong id="status">paid</strong>' in paid.text
    assert (await client.order_status("inv/page")).status == "paid"
    assert deposits(await receiver.wait_for(1))[0].amount == Decimal("42.000000")


async def test_hosted_page_part_and_split_forms(client: PassimpayClient) -> None:
    url = await invoice(client, "inv-forms", "100.00", currencies=[70, 60])
    action = httpx.URL(url).join("../_sandbox/pay/inv-forms")
    async with httpx.AsyncClient(follow_redirects=True) as browser:
        part = await browser.post(action, data={"payment_id": "70", "amount": "25.00"})
        assert 'id="left">75.00<' in part.text
        split = {"payment_id": ["70", "60"], "amount": ["25.00", ""]}
        done = await browser.post(action, data=split)
        assert '<strong id="status">paid</strong>' in done.text
        missing = await browser.get(httpx.URL(url).join("nope"))
        assert missing.status_code == 404
    status = await client.order_status("inv-forms")
    assert (status.status, status.amount_paid) == ("paid", Decimal("100.00"))


async def test_works_mounted_under_a_prefix() -> None:
    sim = PassimpaySandbox()
    parent = FastAPI()
    parent.mount("/passimpay", sim.app)
    async with serve(parent) as server:
        base = f"{server.url}/passimpay"
        async with PassimpayClient(base, PLATFORM_ID, SECRET) as client:
            url = await invoice(client, "mounted/1", "10.00")
            assert url == f"{base}/pay/mounted%2F1"
            async with httpx.AsyncClient(follow_redirects=True) as browser:
                action = httpx.URL(url).join("../_sandbox/pay/mounted%2F1")
                paid = await browser.post(action, data={"payment_id": "70", "amount": ""})
                assert str(paid.url) == url
            assert (await client.order_status("mounted/1")).status == "paid"
    await sim.aclose()


# --- H2H deposits ---------------------------------------------------------------------------


async def test_utxo_deposit_calls_back_at_one_and_two_confirmations(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    address = await client.address(10, "h2h-btc")
    txhash = await sandbox.deposit("h2h-btc", Decimal("0.01"))
    first, second = deposits(await receiver.wait_for(2))
    assert (first.confirmations, second.confirmations) == (1, 2)
    assert first.txhash == second.txhash == txhash and first.address_to == address.address
    assert first.destination_tag is None and first.amount == Decimal("0.01")
    await sandbox.wait_idle()
    assert len(receiver.received) == 2


async def test_tag_network_needs_the_tag(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    address = await client.address(80, "h2h-xrp")
    assert address.destination_tag
    await sandbox.deposit("h2h-xrp", Decimal("50"), with_tag=False)
    await sandbox.deposit("h2h-xrp", Decimal("0.5"))  # under minDeposit
    await sandbox.wait_idle()
    assert receiver.received == []
    assert [d.reason for d in sandbox.deposits] == ["no destination tag", "under minDeposit"]
    await sandbox.deposit("h2h-xrp", Decimal("50"))
    (callback,) = deposits(await receiver.wait_for(1))
    assert (callback.destination_tag, callback.confirmations) == (address.destination_tag, 1)


async def test_many_deposits_to_one_address(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(70, "h2h-many")
    hashes = [await sandbox.deposit("h2h-many", Decimal(n)) for n in ("5", "7.25", "11")]
    callbacks = deposits(await receiver.wait_for(3))
    assert {c.txhash for c in callbacks} == set(hashes)
    assert sorted(c.amount for c in callbacks) == [Decimal("5"), Decimal("7.25"), Decimal("11")]


# --- callback delivery and faults -------------------------------------------------------------


async def test_callbacks_are_retried_three_times_at_most(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(70, "cb-retry")
    receiver.fail_times = 5
    await sandbox.deposit("cb-retry", Decimal("5"))
    await sandbox.wait_idle()
    assert [d.attempt for d in sandbox.callback_log] == [1, 2, 3]
    assert [d.status for d in sandbox.callback_log] == [500, 500, 500]
    assert len({r.body for r in receiver.received}) == 1 and len(receiver.received) == 3
    receiver.fail_times = 1
    await sandbox.deposit("cb-retry", Decimal("6"))
    await sandbox.wait_idle()
    assert [d.status for d in sandbox.callback_log[3:]] == [500, 200]


async def test_drop_and_duplicate_callbacks(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(70, "cb-faults")
    sandbox.faults.drop_callbacks(1)
    await sandbox.deposit("cb-faults", Decimal("5"))
    second = await sandbox.deposit("cb-faults", Decimal("6"))
    await sandbox.wait_idle()
    assert [c.txhash for c in deposits(receiver.received)] == [second]
    sandbox.faults.duplicate_callbacks(1)
    await sandbox.deposit("cb-faults", Decimal("7"))
    await sandbox.wait_idle()
    assert receiver.received[1].body == receiver.received[2].body
    assert len(receiver.received) == 3


async def test_delayed_callbacks(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(70, "cb-delay")
    sandbox.faults.delay_callbacks(0.3)
    await sandbox.deposit("cb-delay", Decimal("5"))
    await asyncio.sleep(0.15)
    assert receiver.received == []
    await receiver.wait_for(1)


async def test_reordered_callbacks_arrive_newest_first(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(20, "cb-order")
    sandbox.faults.reorder_callbacks(True)
    await sandbox.deposit("cb-order", Decimal("1"))
    await sandbox.wait_idle()
    assert receiver.received == []
    sandbox.faults.reorder_callbacks(False)
    assert [c.confirmations for c in deposits(await receiver.wait_for(2))] == [2, 1]


async def test_status_lags_behind_callbacks(
    sandbox: PassimpaySandbox,
    client: PassimpayClient,
    receiver: CallbackReceiver,
    eventually: Eventually,
) -> None:
    await invoice(client, "lag-1")
    sandbox.faults.status_lag(0.5)
    with pytest.raises(NotFound):  # younger than the lag: not visible yet
        await client.order_status("lag-1")
    created = sandbox.invoices.by_order["lag-1"].created_at
    await eventually(lambda: sandbox.status_time() > created)
    assert (await client.order_status("lag-1")).status == "wait"
    await sandbox.deposit("lag-1", Decimal("100"))
    await receiver.wait_for(1)
    assert (await client.order_status("lag-1")).status == "wait"  # the callback came first
    paid_at = sandbox.deposits[-1].at
    await eventually(lambda: sandbox.status_time() > paid_at)
    assert (await client.order_status("lag-1")).status == "paid"


def test_fault_plans_are_consumed_in_order() -> None:
    faults = PassimpayFaults()
    faults.fail_next("v2/withdraw", "503", times=2)
    faults.fail_next("/v2/withdraw", "timeout", delay=0.5)
    taken = [faults.take("/v2/withdraw") for _ in range(4)]
    assert [f.mode if f else None for f in taken] == ["503", "503", "timeout", None]
    with pytest.raises(ValueError):
        faults.fail_next("/v2/withdraw", "418")  # type: ignore[arg-type]
    faults.lose_response_ratio("/v2/withdraw", 0.5, seed=7)
    lost = [faults.take("/v2/withdraw") is not None for _ in range(200)]
    again = PassimpayFaults()
    again.lose_response_ratio("/v2/withdraw", 0.5, seed=7)
    assert lost == [again.take("/v2/withdraw") is not None for _ in range(200)]
    assert 60 < sum(lost) < 140
    faults.clear()
    assert faults.take("/v2/withdraw") is None


# --- provider-side checks -----------------------------------------------------------------------


async def post(sandbox: PassimpaySandbox, path: str, payload: dict[str, Any], **kw: Any) -> Any:
    """A raw signed call, to see the simulator's exact answers."""
    body = encode_body(payload)
    secret = kw.get("secret", SECRET)
    headers = {"x-signature": signature(payload.get("platformId", 0), body, secret)}
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        response = await http.post(path, content=body, headers=headers)
    assert response.status_code in (200, 400)
    return response.json()


async def test_signature_and_platform_are_checked(sandbox: PassimpaySandbox) -> None:
    good = {"platformId": PLATFORM_ID}
    assert (await post(sandbox, "/v2/balance", good))["result"] == 1
    wrong = await post(sandbox, "/v2/balance", good, secret="nope")
    assert wrong == {"result": 0, "message": "Wrong signature"}
    unknown = await post(sandbox, "/v2/balance", {"platformId": 99})
    assert unknown == {"result": 0, "message": "Invalid platformId"}
    assert sandbox.calls["/v2/balance"] == 3


async def test_control_routes_over_http(sandbox: PassimpaySandbox, client: PassimpayClient) -> None:
    await client.address(70, "ctl-1")
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        fault = {"endpoint_path": "/v2/balance", "mode": "503"}
        assert (await http.post("/_sandbox/faults/fail_next", json=fault)).status_code == 200
        assert (await http.post("/_sandbox/faults/explode", json={})).status_code == 404
        bad = await http.post("/_sandbox/faults/fail_next", json={"mode": "503"})
        assert bad.status_code == 422
        deposit = await http.post("/_sandbox/deposit", json={"order_id": "ctl-1", "amount": "3"})
        assert deposit.json()["txhash"] == sandbox.deposits[0].txhash
        with pytest.raises(Transient):
            await client.balance()
        state = (await http.get("/_sandbox/state")).json()
        assert state["calls"]["/v2/balance"] == 1 and state["violations"] == 0


# --- withdrawals ------------------------------------------------------------------------------


async def test_withdrawal_pending_then_success_with_callback(
    sandbox: PassimpaySandbox,
    client: PassimpayClient,
    receiver: CallbackReceiver,
) -> None:
    sandbox.withdraw_callbacks = True
    result = await client.withdraw(withdraw_request("wd-ok", "10"))
    assert (await client.withdraw_status(order_id="wd-ok")).approve == 0
    (callback,) = await receiver.wait_for(1)
    body = json.loads(callback.body)
    assert (body["approve"], body["transactionId"], body["type"]) == (
        1,
        result.transaction_id,
        "withdraw",
    )
    status = await client.withdraw_status(order_id="wd-ok")
    assert status.approve == 1 and status.txhash and status.confirmations == 1
    assert status.fee_service == Decimal("0.050000") and status.fee_network == Decimal("1")
    assert status.amount_debited == Decimal("11.050000")
    assert sandbox.payouts["wd-ok"] == 1


async def test_withdrawal_failure_configured_or_settled_by_hand(
    sandbox: PassimpaySandbox, client: PassimpayClient, eventually: Eventually
) -> None:
    sandbox.faults.fail_withdrawal("wd-fail", "Insufficient funds")
    await client.withdraw(withdraw_request("wd-fail"))
    await eventually(lambda: approve_is(sandbox, "wd-fail", 2))
    status = await client.withdraw_status(order_id="wd-fail")
    assert (status.approve, status.reason, status.txhash) == (2, "Insufficient funds", None)
    sandbox.withdraw_settle_seconds = 30
    await asyncio.sleep(sandbox.withdraw_min_interval)  # respect the limit under test
    await client.withdraw(withdraw_request("wd-hand"))
    sandbox.settle_withdrawal("wd-hand", 2, "Address blacklisted")
    assert (await client.withdraw_status(order_id="wd-hand")).reason == "Address blacklisted"
    with pytest.raises(ValueError, match="already settled"):
        sandbox.settle_withdrawal("wd-hand", 1)


async def test_withdraws_too_close_together_block_the_platform(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    sandbox.withdraw_min_interval = 1.0
    await client.withdraw(withdraw_request("wd-rate-1"))
    with pytest.raises(Refused, match="Too many requests. Platform blocked"):
        await client.withdraw(withdraw_request("wd-rate-2"))
    assert sandbox.violations == 1 and sandbox.payouts["wd-rate-2"] == 0
    await asyncio.sleep(1.05)  # the interval under test: a polite request is still blocked
    with pytest.raises(Refused, match="Platform blocked"):
        await client.withdraw(withdraw_request("wd-rate-3"))
    assert sandbox.violations == 1
    sandbox.unblock()
    await asyncio.sleep(1.05)
    await client.withdraw(withdraw_request("wd-rate-4"))
    assert sandbox.violations == 1 and sum(sandbox.payouts.values()) == 2
    assert len(sandbox.withdraw_calls) == 4
    gap = sandbox.min_withdraw_gap()
    assert gap is not None and gap < 1.0


async def test_min_withdraw_gap_of_a_polite_caller(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    assert sandbox.min_withdraw_gap() is None
    await client.withdraw(withdraw_request("wd-gap-1"))
    await asyncio.sleep(0.25)
    await client.withdraw(withdraw_request("wd-gap-2"))
    gap = sandbox.min_withdraw_gap()
    assert gap is not None and gap >= sandbox.withdraw_min_interval
    assert sandbox.violations == 0


async def test_duplicate_order_id_is_refused_without_second_payout(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    await client.withdraw(withdraw_request("wd-dup"))
    await asyncio.sleep(0.25)
    with pytest.raises(Refused, match="already exists") as refused:
        await client.withdraw(withdraw_request("wd-dup"))
    assert not isinstance(refused.value, NotFound)
    assert sandbox.payouts["wd-dup"] == 1


async def test_lost_withdraw_response_commits_exactly_one_payout(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    sandbox.faults.fail_next("/v2/withdraw", "lose_response")
    with pytest.raises(Transient):
        await client.withdraw(withdraw_request("wd-lost"))
    assert sandbox.payouts["wd-lost"] == 1
    found = await client.withdraw_status(order_id="wd-lost")  # ask before ever sending again
    assert found.order_id == "wd-lost" and found.approve in (0, 1)
    await asyncio.sleep(0.25)
    with pytest.raises(Refused, match="already exists"):
        await client.withdraw(withdraw_request("wd-lost"))
    assert sandbox.payouts["wd-lost"] == 1


async def test_timed_out_withdraw_commits_nothing(sandbox: PassimpaySandbox) -> None:
    sandbox.faults.fail_next("/v2/withdraw", "timeout", delay=0.2)
    async with PassimpayClient(sandbox.base_url, PLATFORM_ID, SECRET, timeout=0.1) as impatient:
        with pytest.raises(Transient, match="timed out"):
            await impatient.withdraw(withdraw_request("wd-timeout"))
        await asyncio.sleep(0.25)
        with pytest.raises(NotFound):
            await impatient.withdraw_status(order_id="wd-timeout")
    assert sandbox.payouts["wd-timeout"] == 0 and len(sandbox.withdraw_calls) == 1


async def test_withdraw_status_lags_too(sandbox: PassimpaySandbox, client: PassimpayClient) -> None:
    sandbox.withdraw_settle_seconds = 30
    await client.withdraw(withdraw_request("wd-lag"))
    await asyncio.sleep(0.5)  # let the pending state age past the lag under test
    sandbox.settle_withdrawal("wd-lag", 1)
    sandbox.faults.status_lag(0.4)
    assert (await client.withdraw_status(order_id="wd-lag")).approve == 0
    sandbox.faults.status_lag(0)
    assert (await client.withdraw_status(order_id="wd-lag")).approve == 1
