"""Passimpay H2H addresses and callbacks end to end, against the simulator over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus

from payflow.crypto import PassimpayPayments
from payflow.search_attributes import NEEDS_ATTENTION
from providers.passimpay.signing import encode_body, signature
from sandbox.passimpay.faults import AddressStatusMode, UtxoCallbacks
from state.deposit_ledger import LedgerEntry
from state.passimpay_models import AddressRequest, AddressTiming, AddressView, DepositResolution
from tests.conftest import OPERATOR, Stack
from tests.flows.helpers import another_gateway, decoded_history, eventually, new_order_id
from workflows.passimpay_address import PassimpayAddress, address_workflow_id
from workflows.passimpay_unmatched import UNMATCHED_WORKFLOW_ID

BTC = 10
ETH = 60
XRP = 80
USDT_TRC20 = 70
PLATFORM = 50
KEY = "sandbox-passimpay-key"
TRON_ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _clear_faults(stack: Stack):  # type: ignore[no-untyped-def]
    stack.sandbox.passimpay.faults.clear()
    yield
    stack.sandbox.passimpay.faults.clear()
    await stack.sandbox.passimpay.wait_idle()


async def wait_for_address(
    crypto: PassimpayPayments, order_id: str, credited: int, timeout: float = 20.0
) -> AddressView:
    """The address once `credited` deposits are credited."""
    return await eventually(
        lambda: crypto.get_address(order_id),
        lambda view: sum(d.lifecycle.state == "credited" for d in view.deposits) >= credited,
        timeout=timeout,
    )


def signed(payload: dict[str, object], *, key: str = KEY) -> tuple[bytes, dict[str, str]]:
    body = encode_body(payload, escape_slashes=True)
    headers = {"content-type": "application/json", "x-signature": signature(PLATFORM, body, key)}
    return body, headers


async def test_utxo_deposit_credited_once_after_two_confirmations(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    opened = await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC))
    assert opened.address and opened.destination_tag is None
    await sim.deposit(order_id, Decimal("0.01"))
    view = await wait_for_address(stack.crypto, order_id, credited=1)
    await sim.wait_idle()
    view = await stack.crypto.get_address(order_id)
    assert view.required_confirmations == 2
    [deposit] = view.deposits
    assert deposit.confirmations == 2 and deposit.amount == Decimal("0.01")
    assert [e.event for e in deposit.lifecycle.journal if e.target] == [
        "confirm",
        "reach",
        "credit",
    ]
    assert "orderstatus" in (deposit.lifecycle.journal[-1].note or "")
    assert view.credited_total == Decimal("0.01")


async def test_duplicated_reordered_and_replayed_callbacks_credit_once(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC))
    sim.faults.reorder_callbacks(True)
    reordered = await sim.deposit(order_id, Decimal("0.02"))
    await sim.wait_idle()  # both confirmations are now held back
    sim.faults.reorder_callbacks(False)  # released newest first: confirmation 2 before 1
    await sim.wait_idle()
    sim.faults.duplicate_callbacks()
    duplicated = await sim.deposit(order_id, Decimal("0.03"))
    await sim.wait_idle()
    await wait_for_address(stack.crypto, order_id, credited=2)
    deliveries = [d for d in sim.callback_log if order_id.encode() in d.body]
    assert len(deliveries) == 2 + 4  # reordered pair, then each confirmation twice

    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        for delivery in deliveries:  # a merchant's "resend" from the dashboard, all of them
            replay = await http.post(
                "/webhooks/passimpay",
                content=delivery.body,
                headers={"content-type": "application/json", "x-signature": delivery.signature},
            )
            assert replay.status_code == 200
    view = await stack.crypto.get_address(order_id)
    assert {d.txhash for d in view.deposits} == {reordered, duplicated}
    assert view.credited_total == Decimal("0.05")
    for deposit in view.deposits:
        credits = [e for e in deposit.lifecycle.journal if e.event == "credit" and e.target]
        assert len(credits) == 1 and deposit.confirmations == 2


async def test_several_deposits_each_credited_once(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=USDT_TRC20))
    for amount in ("10", "20.5", "3"):
        await sim.deposit(order_id, Decimal(amount))
    view = await wait_for_address(stack.crypto, order_id, credited=3)
    assert view.credited_total == Decimal("33.5")
    assert view.required_confirmations == 1


async def test_tag_network_address_shows_its_tag(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    opened = await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=XRP))
    assert opened.destination_tag and opened.address.startswith("r")
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        read = (await http.get(f"/v1/crypto/addresses/{order_id}")).json()
    assert read["destination_tag"] == opened.destination_tag
    await sim.deposit(order_id, Decimal("5"), with_tag=False)  # unattributable: no callback
    await sim.deposit(order_id, Decimal("7"))
    view = await wait_for_address(stack.crypto, order_id, credited=1)
    assert [d.amount for d in view.deposits] == [Decimal("7")]


async def test_eighteen_decimals_survive_end_to_end(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=ETH))
    await sim.deposit(order_id, Decimal("1.123456789012345678"))
    view = await wait_for_address(stack.crypto, order_id, credited=1)
    assert view.credited_total == Decimal("1.123456789012345678")
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        read = (await http.get(f"/v1/crypto/addresses/{order_id}")).json()
    assert read["credited_total"] == "1.123456789012345678"


async def test_address_survives_continue_as_new_with_its_ledger(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    request = AddressRequest(order_id=order_id, payment_id=USDT_TRC20, continue_as_new_after=2)
    opened = await stack.crypto.open_address(request)
    for amount in ("1", "2", "3", "4", "5"):
        await sim.deposit(order_id, Decimal(amount))
        await sim.wait_idle()
    view = await wait_for_address(stack.crypto, order_id, credited=5)
    assert view.runs >= 2 and view.address == opened.address  # signals may batch into a run
    assert view.credited_total == Decimal("15")

    closed = await stack.crypto.close_address(order_id)
    assert closed.status == "closed" and closed.credited_total == Decimal("15")


async def test_deposit_after_close_is_kept_for_an_operator(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=USDT_TRC20))
    await stack.crypto.close_address(order_id)
    await sim.deposit(order_id, Decimal("9"))
    await sim.wait_idle()
    inbox = await eventually(
        stack.crypto.unmatched, lambda items: any(i.order_id == order_id for i in items)
    )
    [item] = [i for i in inbox if i.order_id == order_id]
    assert item.deposit is not None and item.deposit.amount == Decimal("9")


async def test_callback_for_unknown_order_is_kept(stack: Stack) -> None:
    order_id = new_order_id("ghost")
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "12.5",
        "txhash": "0xghost",
        "addressFrom": "TXfrom",
        "addressTo": "TXto",
        "confirmations": 1,
    }
    body, headers = signed(payload)
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.operator, timeout=10
    ) as http:
        first = await http.post("/webhooks/passimpay", content=body, headers=headers)
        again = await http.post("/webhooks/passimpay", content=body, headers=headers)
        assert first.status_code == again.status_code == 200
        items = (await http.get("/v1/crypto/unmatched-callbacks")).json()
        mine = [i for i in items if i["order_id"] == order_id]
        assert len(mine) == 1 and mine[0]["deposit"]["amount"] == "12.5"
        left = await http.post(f"/v1/crypto/unmatched-callbacks/{mine[0]['key']}/acknowledge")
        assert all(i["order_id"] != order_id for i in left.json())
    inbox = await decoded_history(stack.client.get_workflow_handle(UNMATCHED_WORKFLOW_ID))
    assert f'"actor":"{OPERATOR}"' in inbox.replace(" ", "")  # who, with the event's time


async def test_forged_callbacks_are_rejected_and_change_nothing(stack: Stack) -> None:
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=USDT_TRC20))
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "1000",
        "txhash": "0xforged",
        "confirmations": 5,
    }
    body, _ = signed(payload, key="not-our-key")
    other_platform, other_headers = signed({**payload, "platformId": 51})
    good_body, good_headers = signed(payload)
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        forged = await http.post(
            "/webhooks/passimpay",
            content=body,
            headers={"content-type": "application/json", "x-signature": "0" * 64},
        )
        wrong_key = await http.post(
            "/webhooks/passimpay", content=body, headers=signed(payload, key="x")[1]
        )
        tampered = await http.post(
            "/webhooks/passimpay", content=good_body.replace(b"1000", b"9000"), headers=good_headers
        )
        foreign = await http.post(
            "/webhooks/passimpay", content=other_platform, headers=other_headers
        )
        assert forged.status_code == wrong_key.status_code == tampered.status_code == 401
        assert foreign.status_code == 401
    view = await stack.crypto.get_address(order_id)
    assert view.deposits == []


async def test_callbacks_from_outside_the_allow_list_are_refused(stack: Stack) -> None:
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=USDT_TRC20))
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "10",
        "txhash": "0xallow",
        "confirmations": 1,
    }
    body, headers = signed(payload)
    async with (
        another_gateway(stack, callback_allowed_ips={"192.0.2.10"}) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        refused = await http.post("/webhooks/passimpay", content=body, headers=headers)
    assert refused.status_code == 403
    assert (await stack.crypto.get_address(order_id)).deposits == []


# --- deposits credited by the provider's truth --------------------------------------------

QUICK = AddressTiming(confirm_poll_seconds=0.2, confirm_deadline_seconds=1.5)


def flagged(view: AddressView) -> list[LedgerEntry]:
    return [d for d in view.deposits if d.flag]


@pytest.mark.parametrize("mode", ["first_and_second", "single_higher"])
async def test_utxo_deposit_credited_once_whichever_callbacks_come(
    stack: Stack, mode: UtxoCallbacks
) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.utxo_callbacks(mode, confirmations=3)
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC, timing=QUICK))
    await sim.deposit(order_id, Decimal("0.01"))
    view = await wait_for_address(stack.crypto, order_id, credited=1)
    await sim.wait_idle()
    [deposit] = (await stack.crypto.get_address(order_id)).deposits
    assert deposit.confirmations == (2 if mode == "first_and_second" else 3)
    assert [e.event for e in deposit.lifecycle.journal if e.event == "credit"] == ["credit"]
    assert view.credited_total == Decimal("0.01") and view.needs_attention is False


async def test_lost_second_utxo_callback_is_flagged_then_resolved_by_an_operator(
    stack: Stack,
) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.utxo_callbacks("lose_second")
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC, timing=QUICK))
    txhash = await sim.deposit(order_id, Decimal("0.01"))
    view = await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.needs_attention)
    [deposit] = flagged(view)
    assert deposit.lifecycle.state == "confirming" and "1 of 2 confirmations" in (
        deposit.flag or ""
    )
    assert view.credited_total == 0 and view.provider.amount_paid == Decimal("0.01")

    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.operator, timeout=10
    ) as http:
        resolved = await http.post(
            f"/v1/crypto/addresses/{order_id}/deposits/resolve",
            json={"key": f"{BTC}:{txhash}", "credit": True, "note": "2 confirmations on chain"},
        )
        again = await http.post(
            f"/v1/crypto/addresses/{order_id}/deposits/resolve",
            json={"key": f"{BTC}:{txhash}", "credit": True, "note": "twice"},
        )
    assert resolved.status_code == 200, resolved.text
    assert (
        resolved.json()["credited_total"] == "0.01" and resolved.json()["needs_attention"] is False
    )
    assert again.status_code == 409  # credited once, never twice


async def test_provider_counting_seen_deposits_does_not_skip_confirmations(stack: Stack) -> None:
    """Under `seen`, orderstatus covers a 1-confirmation UTXO deposit at once: still not credited
    before the callbacks report 2; flagged when the second never comes."""
    sim = stack.sandbox.passimpay
    sim.faults.address_orderstatus("seen")
    sim.faults.utxo_callbacks("lose_second")
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC, timing=QUICK))
    await sim.deposit(order_id, Decimal("0.02"))
    view = await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.needs_attention)
    assert view.provider.amount_paid == Decimal("0.02") and view.credited_total == 0
    assert [d.lifecycle.state for d in view.deposits] == ["confirming"]


@pytest.mark.parametrize("mode", ["none", "fiat"])
async def test_h2h_deposit_is_credited_on_its_callback_when_orderstatus_cannot_count_it(
    stack: Stack, mode: AddressStatusMode
) -> None:
    """As documented, orderstatus does not know H2H orders (or counts in another unit): the
    verified callback naming this address is the provider's word; UTXO coins at confirmation 2."""
    sim = stack.sandbox.passimpay
    sim.faults.address_orderstatus(mode)
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC, timing=QUICK))
    await sim.deposit(order_id, Decimal("0.01"))
    view = await wait_for_address(stack.crypto, order_id, credited=1)
    [deposit] = view.deposits
    assert deposit.confirmations == 2 and view.credited_total == Decimal("0.01")
    assert "signed callback names this address" in (deposit.lifecycle.journal[-1].note or "")
    assert view.needs_attention is False and view.attention.reasons == {}


@pytest.mark.parametrize(("mode", "why"), [("none", "cannot confirm"), ("fiat", "'USD'")])
async def test_callback_naming_no_address_waits_for_an_operator_when_nothing_confirms_it(
    stack: Stack, mode: AddressStatusMode, why: str
) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.address_orderstatus(mode)
    order_id = new_order_id("adr")
    await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=QUICK)
    )
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "10",
        "txhash": "a1b2c3",
        "confirmations": 1,
    }
    body, headers = signed(payload)
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        assert (await http.post("/webhooks/passimpay", content=body, headers=headers)).is_success
    view = await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.needs_attention)
    [deposit] = flagged(view)
    assert why in (deposit.flag or "") and view.credited_total == 0
    handle = stack.client.get_workflow_handle(address_workflow_id(order_id))
    assert (await handle.describe()).typed_search_attributes.get(NEEDS_ATTENTION) is True

    resolution = DepositResolution(key=f"{USDT_TRC20}:a1b2c3", credit=False, note="not ours")
    view = await stack.crypto.resolve_deposit(order_id, resolution)
    assert [d.lifecycle.state for d in view.deposits] == ["rejected"]
    assert view.credited_total == 0 and view.needs_attention is False


async def test_a_rejected_deposit_is_no_budget_for_one_the_provider_never_counted(
    stack: Stack,
) -> None:
    """The operator rejects R (100, counted by the provider); a signed callback for D (100) that
    the provider never counted must not be credited out of R's amount."""
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    timing = AddressTiming(confirm_poll_seconds=0.2, confirm_deadline_seconds=1)
    await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=timing)
    )
    sim.faults.status_lag(3600)  # the provider's count does not show R yet
    rejected = await sim.deposit(order_id, Decimal("100"))
    await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.needs_attention)
    resolution = DepositResolution(key=f"{USDT_TRC20}:{rejected}", credit=False, note="AML hold")
    await stack.crypto.resolve_deposit(order_id, resolution)
    sim.faults.status_lag(0)
    never_counted = await sim.deposit(order_id, Decimal("100"), counted=False)
    view = await eventually(
        lambda: stack.crypto.get_address(order_id),
        lambda v: any(d.txhash == never_counted and d.flag for d in v.deposits),
    )
    assert view.provider.amount_paid == Decimal("100") and view.credited_total == 0
    assert {d.txhash: d.lifecycle.state for d in view.deposits}[rejected] == "rejected"


async def test_a_deposit_heard_again_under_another_spelling_is_credited_once(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    opened = await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=QUICK)
    )
    txhash = await sim.deposit(order_id, Decimal("10"))
    await wait_for_address(stack.crypto, order_id, credited=1)
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        for spelling, confirmations in [(f"0x{txhash.upper()}", 1), (txhash.upper(), 5)]:
            body, headers = signed(
                {
                    "platformId": PLATFORM,
                    "paymentId": USDT_TRC20,
                    "orderId": order_id,
                    "amount": "10",
                    "txhash": spelling,
                    "addressTo": opened.address,
                    "confirmations": confirmations,
                }
            )
            reply = await http.post("/webhooks/passimpay", content=body, headers=headers)
            assert reply.is_success, reply.text
    view = await eventually(
        lambda: stack.crypto.get_address(order_id), lambda v: v.deposits[0].confirmations == 5
    )
    assert len(view.deposits) == 1 and view.credited_total == Decimal("10")
    assert view.callbacks_repeated == 1 and not view.needs_attention


async def test_a_callback_reaches_an_address_whose_worker_cannot_answer(stack: Stack) -> None:
    """The gateway's address check is a query, which needs a worker: with none answering, the
    callback is still signalled (the workflow checks it itself), never refused with 503."""
    order_id = new_order_id("adr")
    request = AddressRequest(order_id=order_id, payment_id=USDT_TRC20)
    handle = await stack.client.start_workflow(
        PassimpayAddress.run,
        args=[request, None],
        id=address_workflow_id(order_id),
        task_queue=f"nobody-polls-{order_id}",
    )
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "3",
        "txhash": "c0ffee",
        "addressTo": TRON_ADDRESS,
        "confirmations": 1,
    }
    body, headers = signed(payload)
    try:
        async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
            reply = await http.post("/webhooks/passimpay", content=body, headers=headers)
        assert reply.status_code == 200 and reply.json()["target"] == "address", reply.text
        events = [e async for e in handle.fetch_history_events()]
        assert any(e.HasField("workflow_execution_signaled_event_attributes") for e in events)
    finally:
        await handle.terminate("test cleanup")


async def test_a_callback_temporal_cannot_take_is_held_in_the_ledger_and_delivered(
    stack: Stack,
) -> None:
    """A gateway whose Temporal calls cannot finish keeps the verified callback in the ledger
    and answers 200 (Passimpay's three tries would run out in an outage); a gateway that can
    reach Temporal hands it to the address."""
    order_id = new_order_id("adr")
    opened = await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=QUICK)
    )
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "4",
        "txhash": "feed01",
        "addressTo": opened.address,
        "confirmations": 1,
    }
    body, headers = signed(payload)
    async with (
        another_gateway(stack, temporal_signal_timeout_seconds=1e-6) as cut_off,
        httpx.AsyncClient(base_url=cut_off, timeout=10) as http,
    ):
        reply = await http.post("/webhooks/passimpay", content=body, headers=headers)
    assert reply.status_code == 200 and reply.json()["target"] == "held", reply.text
    view = await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.deposits)
    assert [d.txhash for d in view.deposits] == ["feed01"]
    waiting = await stack.ledger.held_callbacks()
    assert all(held.order_id != order_id for held in waiting)


async def test_callback_claiming_more_than_arrived_is_never_credited(stack: Stack) -> None:
    """A verified callback is a hint: only what the provider reports as received is credited."""
    sim = stack.sandbox.passimpay
    order_id = new_order_id("adr")
    await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=QUICK)
    )
    await sim.deposit(order_id, Decimal("10"))
    await wait_for_address(stack.crypto, order_id, credited=1)
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "1000",
        "txhash": "0xnever-on-chain",
        "confirmations": 1,
    }
    body, headers = signed(payload)
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        assert (await http.post("/webhooks/passimpay", content=body, headers=headers)).is_success
    view = await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.needs_attention)
    assert view.credited_total == Decimal("10") and view.provider.amount_paid == Decimal("10")
    [claimed] = flagged(view)
    assert claimed.txhash == "0xnever-on-chain" and claimed.lifecycle.state == "awaiting_provider"


async def test_failing_address_status_checks_raise_and_clear_attention(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    timing = AddressTiming(
        confirm_poll_seconds=0.2, confirm_deadline_seconds=60, attention_after_seconds=1
    )
    order_id = new_order_id("adr")
    await stack.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20, timing=timing)
    )
    sim.faults.fail_next("/v3/orderstatus", "503", times=100_000)
    await sim.deposit(order_id, Decimal("5"))
    view = await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.needs_attention)
    assert "HTTP 503" in view.attention["status_checks"] and view.credited_total == 0
    sim.faults.clear()
    view = await eventually(
        lambda: stack.crypto.get_address(order_id),
        lambda v: not v.needs_attention and v.credited_total == Decimal("5"),
    )
    assert view.attention.reasons == {}


async def test_close_waits_for_unsettled_deposits(stack: Stack) -> None:
    sim = stack.sandbox.passimpay
    sim.faults.utxo_callbacks("lose_second")
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=BTC, timing=QUICK))
    txhash = await sim.deposit(order_id, Decimal("0.01"))
    await eventually(lambda: stack.crypto.get_address(order_id), lambda v: len(v.deposits) == 1)
    closed = await stack.crypto.close_address(order_id)
    assert closed.status == "closed"
    handle = stack.client.get_workflow_handle_for(
        PassimpayAddress.run, address_workflow_id(order_id)
    )
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    resolution = DepositResolution(key=f"{BTC}:{txhash}", credit=True, note="seen on chain")
    view = await stack.crypto.resolve_deposit(order_id, resolution)
    assert view.credited_total == Decimal("0.01")
    result = await handle.result()
    assert result.status == "closed" and result.credited_total == Decimal("0.01")


@pytest.mark.parametrize(
    "payload",
    [
        {"txhash": "", "confirmations": 1, "amount": "1"},
        {"txhash": "0xa", "confirmations": -1, "amount": "1"},
        {"txhash": "0xb", "confirmations": "two", "amount": "1"},
        {"txhash": "0xc", "confirmations": 1, "amount": "NaN"},
        {"txhash": "0xd", "confirmations": 1, "amount": [1]},
        {"txhash": {"x": 1}, "confirmations": 1, "amount": "1"},
        {"txhash": "0xe", "confirmations": 1, "amount": "-5"},
        {"txhash": "0xf", "confirmations": 10**30, "amount": "Infinity"},
    ],
)
async def test_no_callback_value_makes_a_500(stack: Stack, payload: dict[str, object]) -> None:
    order_id = new_order_id("odd")
    body, headers = signed(
        {"platformId": PLATFORM, "paymentId": USDT_TRC20, "orderId": order_id, **payload}
    )
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        reply = await http.post("/webhooks/passimpay", content=body, headers=headers)
        legacy = await http.post(
            "/webhooks/passimpay",
            content=b"platform_id=50&order_id=x&amount=1&hash=abc",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert reply.status_code == 400 and legacy.status_code == 401
    assert reply.json()["outcome"] == "kept_for_operator"  # verified: an operator sees it
