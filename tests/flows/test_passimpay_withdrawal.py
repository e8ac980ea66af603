"""Passimpay payouts: validated before anything leaves, exactly one payout per order whatever
fails, and never two withdraw requests less than 1.0 s apart (the simulator's clock decides)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from payflow.decision_keys import client_decision_keys
from payflow.devserver import DevServer, stop_process
from payflow.http_server import RunningServer, serve
from payflow.stack import SANDBOX_PASSIMPAY_KEY, SANDBOX_PASSIMPAY_PLATFORM
from payflow.withdrawals import PassimpayWithdrawals, WithdrawalRejected
from payflow.workflow_calls import PaymentConflict
from sandbox.passimpay import PassimpaySandbox
from sandbox.passimpay.withdrawals import AddressSpelling, OrderIdMode
from state.decision import DECISION_REFUSED
from state.passimpay_withdrawal_models import (
    WithdrawalRequest,
    WithdrawalResolution,
    WithdrawalTiming,
    WithdrawalView,
    WithdrawPolicy,
)
from state.withdraw_gate import REPLY_TIMEOUT, WAIT_AFTER_DOUBT, gate_workflow_id
from tests.conftest import OPERATOR, PROVIDER_TIMEOUT_SECONDS, Stack
from tests.flows.helpers import decoded_history, eventually, new_order_id, outsider
from tests.flows.test_checkout_durability import start_worker_process
from tests.payload_keys import PAYLOAD_KEYS_ENV
from worker import passimpay_client, paymentassist_client, running_worker
from workflows.passimpay_withdrawal import PassimpayWithdrawal, withdrawal_workflow_id

TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
XRP = "rnMwwyTQMRQJT52h1MocV8jRGgxb4JF3KA"
ETH = "0x52908400098527886E0F7030069857D2E4169EE7"
USDT_TRC20, XRP_ID, ETH_ID = 70, 80, 60
FAST = WithdrawalTiming(active_poll_seconds=0.3, idle_poll_seconds=0.3)
WITHDRAW = "/v2/withdraw"
SETTLE_SECONDS = 0.3
ENDED = ("paid", "failed", "rejected")


def payout(**overrides: object) -> WithdrawalRequest:
    """12.5 USDT (TRC20) to a valid address, polled fast, closed as soon as it ends."""
    values: dict[str, object] = {
        "order_id": new_order_id("wd"),
        "payment_id": USDT_TRC20,
        "address_to": TRON,
        "amount": Decimal("12.5"),
        "timing": FAST,
        "late_callback_window_seconds": 0,
    }
    return WithdrawalRequest(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def sim(stack: Stack) -> Iterator[PassimpaySandbox]:
    """The session's Passimpay simulator with quick settlement; faults cleared after each test."""
    passimpay = stack.sandbox.passimpay
    saved = passimpay.withdraw_settle_seconds, passimpay.withdraw_callbacks
    passimpay.withdraw_settle_seconds = SETTLE_SECONDS
    passimpay.unblock()
    yield passimpay
    passimpay.faults.clear()
    passimpay.withdrawals.behave()
    passimpay.withdraw_settle_seconds, passimpay.withdraw_callbacks = saved


async def ended(
    withdrawals: PassimpayWithdrawals, order_id: str, *statuses: str, timeout: float = 20.0
) -> WithdrawalView:
    """The payout's view once it reaches one of `statuses` (default: any end)."""
    wanted = statuses or ENDED
    return await eventually(
        lambda: withdrawals.get(order_id), lambda view: view.status in wanted, timeout=timeout
    )


def gaps(calls: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]


# --- happy and unhappy endings ----------------------------------------------------------------


async def test_paid_through_the_http_api(stack: Stack, sim: PassimpaySandbox) -> None:
    request = payout()
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=stack.merchant) as http:
        created = await http.post("/v1/crypto/withdrawals", json=request.model_dump(mode="json"))
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "validated"
        view = await ended(stack.withdrawals, request.order_id)
        fetched = await http.get(f"/v1/crypto/withdrawals/{request.order_id}")
    assert view.status == "paid"
    assert fetched.json()["status"] == "paid"
    assert view.provider_approve == 1 and view.txhash and view.transaction_id
    assert view.fee_service is not None and view.fee_network is not None
    assert view.amount_debited == Decimal("12.5") + view.fee_service + view.fee_network
    assert view.send_attempts == 1 and view.ambiguous_rounds == 0
    assert sim.payouts[request.order_id] == 1
    handle = stack.client.get_workflow_handle(withdrawal_workflow_id(request.order_id))
    attributes = (await handle.describe()).search_attributes
    assert attributes["PaymentStatus"] == ["paid"] and attributes["NeedsAttention"] == [False]
    await handle.result()
    gate = stack.client.get_workflow_handle(gate_workflow_id(SANDBOX_PASSIMPAY_PLATFORM))
    for history in (await decoded_history(handle), await decoded_history(gate)):
        assert request.order_id in history  # payloads decoded
        assert SANDBOX_PASSIMPAY_KEY not in history


async def test_failed_with_the_providers_reason(stack: Stack, sim: PassimpaySandbox) -> None:
    request = payout()
    sim.faults.fail_withdrawal(request.order_id, "Insufficient funds in the hot wallet")
    await stack.withdrawals.request(request)
    view = await ended(stack.withdrawals, request.order_id)
    assert view.status == "failed" and view.provider_approve == 2
    assert view.reason == "Insufficient funds in the hot wallet"
    assert sim.payouts[request.order_id] == 1


# --- ambiguity: one payout, whatever happens to the reply -------------------------------------


async def test_reply_lost_after_the_provider_committed(stack: Stack, sim: PassimpaySandbox) -> None:
    request = payout()
    sends_before = sim.calls[WITHDRAW]
    sim.faults.fail_next(WITHDRAW, "lose_response")
    sim.faults.fail_next("/v2/withdrawstatus", "503", times=2)  # and the status API flaps too
    await stack.withdrawals.request(request)
    view = await ended(stack.withdrawals, request.order_id)
    assert view.status == "paid"
    assert view.send_attempts == 1 and view.ambiguous_rounds == 1
    assert sim.calls[WITHDRAW] - sends_before == 1  # asked, never resent
    assert sim.payouts[request.order_id] == 1


@pytest_asyncio.fixture(loop_scope="session")
async def trusting(stack: Stack) -> AsyncIterator[PassimpayWithdrawals]:
    """Payouts through a worker told that the platform refuses a reused orderId."""
    settings = stack.settings.model_copy(
        update={"task_queue": f"payflow-unique-{uuid.uuid4().hex[:8]}"}
    )
    passimpay = stack.sandbox.passimpay_settings(timeout_seconds=PROVIDER_TIMEOUT_SECONDS)
    async with running_worker(
        stack.client,
        settings=settings,
        paymentassist=paymentassist_client(stack.sandbox.paymentassist_settings()),
        passimpay=passimpay_client(passimpay),
        withdraw_policy=WithdrawPolicy(unique_order_id=True),
        serve_gate=False,
    ):
        yield PassimpayWithdrawals(stack.client, task_queue=settings.task_queue)


@pytest.mark.parametrize("mode", ["timeout", "503"])
async def test_maybe_sent_then_not_found_resends_only_where_orderid_is_unique(
    stack: Stack, sim: PassimpaySandbox, trusting: PassimpayWithdrawals, mode: str
) -> None:
    # the provider answered (504 after 3 s, or 503) and did nothing; nobody here can know that
    sim.withdrawals.behave("unique", opaque_errors=True)  # "not found" in words nobody parses
    request = payout()
    sends_before = sim.calls[WITHDRAW]
    sim.faults.fail_next(WITHDRAW, mode, delay=3.0)  # type: ignore[arg-type]
    await trusting.request(request)
    view = await ended(trusting, request.order_id)
    assert view.status == "paid" and view.unique_order_id
    assert view.send_attempts == 2 and view.ambiguous_rounds == 1 and view.not_sent == 0
    assert sim.calls[WITHDRAW] - sends_before == 2
    assert sim.payouts[request.order_id] == 1


async def test_maybe_sent_then_not_found_waits_for_an_operator(
    stack: Stack, sim: PassimpaySandbox
) -> None:
    sim.withdrawals.behave("duplicate")  # this provider would pay a resend again
    request = payout(timing=FAST.model_copy(update={"lookup_window_seconds": 2.0}))
    sim.faults.fail_next(WITHDRAW, "503")
    await stack.withdrawals.request(request)
    view = await ended(stack.withdrawals, request.order_id, "outcome_unknown", timeout=30)
    assert view.needs_attention and not view.unique_order_id
    assert "may have reached Passimpay" in (view.attention_reason or "")
    assert "did not find orderId" in (view.attention_reason or "")
    assert view.send_attempts == 1 and sim.payouts[request.order_id] == 0
    handle = stack.client.get_workflow_handle(withdrawal_workflow_id(request.order_id))
    attributes = (await handle.describe()).search_attributes
    assert attributes["NeedsAttention"] == [True]
    assert attributes["PaymentStatus"] == ["outcome_unknown"]

    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=stack.operator) as http:
        url = f"/v1/crypto/withdrawals/{request.order_id}/resolve"
        decision = {"decision": "retry", "note": "the dashboard shows no such payout"}
        as_merchant = await http.post(url, json=decision, headers=stack.merchant)
        assert as_merchant.status_code == 403, as_merchant.text  # an operator's action
        resolved = await http.post(url, json={**decision, "actor": "someone else"})
        assert resolved.status_code == 200, resolved.text
        view = await ended(stack.withdrawals, request.order_id)
        again = await http.post(url, json=decision)
    assert view.status == "paid" and view.resolution is not None
    assert view.resolution.actor == OPERATOR  # from the token, whatever the body claims
    assert any(f"operator {OPERATOR}:" in (e.note or "") for e in view.lifecycle.journal)
    assert view.send_attempts == 2 and sim.payouts[request.order_id] == 1
    assert again.status_code == 409  # nothing left to resolve


SLOW_UNKNOWN = FAST.model_copy(update={"lookup_window_seconds": 1.5, "idle_poll_seconds": 600})
"""Gives up looking after 1.5 s, then reads the status only every 10 minutes while unknown."""


def provider_says(sim: PassimpaySandbox, order_id: str) -> int | None:
    """The approve code `/v2/withdrawstatus` answers for the order now (None: not found)."""
    withdrawal = sim.withdrawal(order_id)
    fields = withdrawal.status_fields(sim.status_time()) if withdrawal else None
    return None if fields is None else int(fields["approve"])


async def test_an_operators_retry_reads_the_status_first_and_never_pays_twice(
    stack: Stack, sim: PassimpaySandbox
) -> None:
    # committed, reply lost, the status API behind the lookup window: outcome unknown; by the
    # time an operator retries, the provider knows the payout the last status read missed
    sim.withdrawals.behave("duplicate")  # a resend would be paid again
    sim.faults.status_lag(4.0)
    request = payout(timing=SLOW_UNKNOWN)
    sim.faults.fail_next(WITHDRAW, "lose_response")
    await stack.withdrawals.request(request)
    await ended(stack.withdrawals, request.order_id, "outcome_unknown", timeout=30)
    await eventually(
        lambda: asyncio.sleep(0, provider_says(sim, request.order_id)), lambda a: a == 1
    )
    retry = WithdrawalResolution(decision="retry", note="the dashboard shows nothing")
    await stack.withdrawals.resolve(request.order_id, retry)
    view = await ended(stack.withdrawals, request.order_id)
    assert view.status == "paid" and view.send_attempts == 1
    assert sim.payouts[request.order_id] == 1
    assert "retry_declined" in [entry.event for entry in view.lifecycle.journal]


async def test_an_operators_retry_is_not_sent_while_the_status_cannot_be_read(
    stack: Stack, sim: PassimpaySandbox
) -> None:
    sim.withdrawals.behave("duplicate")
    request = payout(timing=SLOW_UNKNOWN)
    sim.faults.fail_next(WITHDRAW, "503")  # nothing committed, but nobody here can know that
    await stack.withdrawals.request(request)
    await ended(stack.withdrawals, request.order_id, "outcome_unknown", timeout=30)
    sends_before = sim.calls[WITHDRAW]
    sim.faults.fail_next("/v2/withdrawstatus", "503", times=1000)
    retry = WithdrawalResolution(decision="retry", note="the dashboard shows nothing")
    await stack.withdrawals.resolve(request.order_id, retry)
    view = await eventually(
        lambda: stack.withdrawals.get(request.order_id),
        lambda view: view.status != "outcome_unknown" or view.retry_requested is None,
        timeout=30,
    )
    assert view.status == "outcome_unknown" and view.needs_attention
    assert "retry was not sent" in (view.attention_reason or "")
    assert sim.calls[WITHDRAW] == sends_before  # nothing resent
    sim.faults.clear()  # readable again, and it does not know the payout: the retry is sent
    await stack.withdrawals.resolve(request.order_id, retry)
    view = await ended(stack.withdrawals, request.order_id)
    assert view.status == "paid" and view.send_attempts == 2
    assert sim.payouts[request.order_id] == 1


async def test_a_retry_sent_from_outside_payflow_is_refused_and_never_resent(
    stack: Stack, sim: PassimpaySandbox
) -> None:
    # the provider has nothing (a 503 before anything was committed), so a retry would be sent
    sim.withdrawals.behave("duplicate")
    request = payout(timing=SLOW_UNKNOWN)
    sim.faults.fail_next(WITHDRAW, "503")
    await stack.withdrawals.request(request)
    await ended(stack.withdrawals, request.order_id, "outcome_unknown", timeout=30)
    sends_before = sim.calls[WITHDRAW]
    workflow_id = withdrawal_workflow_id(request.order_id)
    # plain JSON through the Temporal client, as the UI or CLI sends it (no codec, no proof)
    plain = {"decision": "retry", "note": "resend it", "actor": "ops-ada"}
    outside = outsider(stack.client).get_workflow_handle(workflow_id)
    # a proven decision moved from another payout, and one altered after it was proven
    other = withdrawal_workflow_id(new_order_id("wd"))
    keys = client_decision_keys(stack.client, stack.settings)
    retry = WithdrawalResolution(decision="retry", note="resend it")
    moved = keys.prove(other, retry)
    altered = keys.prove(workflow_id, retry.model_copy(update={"decision": "paid"})).model_copy(
        update={"decision": "retry"}
    )
    handle = stack.client.get_workflow_handle_for(PassimpayWithdrawal.run, workflow_id)
    outcomes = [
        *await asyncio.gather(outside.execute_update("resolve", plain), return_exceptions=True),
        *await asyncio.gather(
            handle.execute_update(PassimpayWithdrawal.resolve, moved), return_exceptions=True
        ),
        *await asyncio.gather(
            handle.execute_update(PassimpayWithdrawal.resolve, altered), return_exceptions=True
        ),
    ]
    view = await stack.withdrawals.get(request.order_id)
    refusals = [e.note or "" for e in view.lifecycle.journal if e.event == "decision_refused"]
    assert len(refusals) == 3
    assert "'retry'" in refusals[0] and "'ops-ada'" in refusals[0] and "no proof" in refusals[0]
    assert all("does not match" in note for note in refusals[1:])
    assert view.status == "outcome_unknown" and view.retry_requested is None
    assert view.resolution is None
    for outcome in outcomes:  # each caller heard a refusal (its message sealed for payflow)
        assert isinstance(outcome, WorkflowUpdateFailedError), outcome
        assert isinstance(outcome.cause, ApplicationError)
        assert outcome.cause.type == DECISION_REFUSED
    # the operator's own decision through payflow's API is still taken: nothing was resent
    decided = await stack.withdrawals.resolve(
        request.order_id, WithdrawalResolution(decision="failed", note="nothing in the dashboard")
    )
    assert decided.status == "failed" and decided.resolution is not None
    assert decided.resolution.proof is None  # the proof is checked, never kept or shown
    assert sim.calls[WITHDRAW] == sends_before and sim.payouts[request.order_id] == 0


@pytest.mark.parametrize("order_ids", ["duplicate", "ignore"])
async def test_lost_reply_from_a_provider_without_orderid_dedupe_pays_once(
    stack: Stack, sim: PassimpaySandbox, order_ids: OrderIdMode
) -> None:
    # the payout is committed, its reply lost, and the status API lags behind the lookup window
    sim.withdrawals.behave(order_ids)
    sim.faults.status_lag(4.0)
    request = payout(timing=FAST.model_copy(update={"lookup_window_seconds": 1.5}))
    sim.faults.fail_next(WITHDRAW, "lose_response")
    await stack.withdrawals.request(request)
    view = await ended(stack.withdrawals, request.order_id, "outcome_unknown", timeout=30)
    assert sim.payouts[request.order_id] == 1 and view.send_attempts == 1
    if order_ids == "duplicate":  # the status API catches up: followed to paid, never resent
        view = await ended(stack.withdrawals, request.order_id, timeout=30)
        assert view.status == "paid" and view.send_attempts == 1
    else:  # never findable by orderId: stays with the operator, still one payout
        assert (await stack.withdrawals.get(request.order_id)).status == "outcome_unknown"
        view = await stack.withdrawals.resolve(
            request.order_id, WithdrawalResolution(decision="paid", note="seen in the dashboard")
        )
        assert view.status == "paid"
    assert sim.payouts[request.order_id] == 1


async def test_a_resend_refused_in_unknown_words_is_looked_up(
    sim: PassimpaySandbox, trusting: PassimpayWithdrawals
) -> None:
    # committed, reply lost, the status API 2 s behind: not found, so resent; the provider
    # refuses the resend with a message nobody can parse; the lookup then finds the first one
    sim.withdrawals.behave("unique", opaque_errors=True)
    sim.faults.status_lag(2.0)
    request = payout()
    sim.faults.fail_next(WITHDRAW, "lose_response")
    await trusting.request(request)
    view = await ended(trusting, request.order_id, timeout=40)
    assert view.status == "paid" and view.send_attempts == 2 and view.ambiguous_rounds == 2
    assert sim.payouts[request.order_id] == 1


async def test_operator_decision_contradicted_by_the_provider_is_flagged(
    stack: Stack, sim: PassimpaySandbox
) -> None:
    sim.faults.status_lag(6.0)
    request = payout(
        timing=FAST.model_copy(update={"lookup_window_seconds": 1.0}),
        late_callback_window_seconds=30,
    )
    sim.faults.fail_next(WITHDRAW, "lose_response")
    await stack.withdrawals.request(request)
    await ended(stack.withdrawals, request.order_id, "outcome_unknown", timeout=30)
    decided = await stack.withdrawals.resolve(
        request.order_id, WithdrawalResolution(decision="failed", note="looks unpaid")
    )
    assert decided.status == "failed"
    flagged = await eventually(
        lambda: stack.withdrawals.get(request.order_id),
        lambda view: view.needs_attention,
        timeout=30,
    )
    assert flagged.status == "failed"
    assert "/v2/withdrawstatus says" in (flagged.attention_reason or "")
    handle = stack.client.get_workflow_handle(withdrawal_workflow_id(request.order_id))
    assert (await handle.describe()).search_attributes["NeedsAttention"] == [True]
    assert sim.payouts[request.order_id] == 1


async def test_a_hung_request_is_looked_up_and_the_next_send_waits_longer(
    stack: Stack, sim: PassimpaySandbox
) -> None:
    # committed, then no reply for longer than the sender waits: maybe sent, found by lookup
    hung, behind = payout(), payout()
    first_call = len(sim.withdraw_calls)
    sim.faults.fail_next(WITHDRAW, "hang", delay=REPLY_TIMEOUT + 3)
    await stack.withdrawals.request(hung)
    await eventually(lambda: asyncio.sleep(0, len(sim.withdraw_calls)), lambda n: n > first_call)
    await stack.withdrawals.request(behind)
    views = await asyncio.gather(
        ended(stack.withdrawals, hung.order_id, timeout=60),
        ended(stack.withdrawals, behind.order_id, timeout=60),
    )
    assert [view.status for view in views] == ["paid", "paid"]
    assert views[0].ambiguous_rounds == 1 and views[0].send_attempts == 1
    calls = sim.withdraw_calls[first_call:]
    assert len(calls) == 2 and calls[1] - calls[0] >= REPLY_TIMEOUT + WAIT_AFTER_DOUBT
    assert sim.payouts[hung.order_id] == 1 and sim.payouts[behind.order_id] == 1


async def test_callback_before_the_status_api_agrees(stack: Stack, sim: PassimpaySandbox) -> None:
    sim.withdraw_callbacks = True
    sim.faults.status_lag(3.0)
    request = payout()
    await stack.withdrawals.request(request)
    hinted = await eventually(
        lambda: stack.withdrawals.get(request.order_id), lambda view: bool(view.callbacks)
    )
    assert hinted.callbacks[0].approve == 1  # the callback says paid ...
    assert hinted.status == "pending" and hinted.provider_approve != 1  # ... nobody believes it
    view = await ended(stack.withdrawals, request.order_id)
    assert view.status == "paid" and view.provider_approve == 1
    assert sim.payouts[request.order_id] == 1


# --- idempotency ------------------------------------------------------------------------------


async def test_duplicate_requests_join_one_payout(stack: Stack, sim: PassimpaySandbox) -> None:
    request = payout()
    body = request.model_dump(mode="json")
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        replies = await asyncio.gather(
            *(http.post("/v1/crypto/withdrawals", json=body) for _ in range(5))
        )
        other = await http.post("/v1/crypto/withdrawals", json={**body, "amount": "13"})
    assert [reply.status_code for reply in replies] == [201] * 5
    assert {reply.json()["order_id"] for reply in replies} == {request.order_id}
    assert other.status_code == 409
    view = await ended(stack.withdrawals, request.order_id)
    assert view.status == "paid" and view.send_attempts == 1
    assert sim.payouts[request.order_id] == 1
    assert (await stack.withdrawals.request(request)).status == "paid"  # after the end too
    with pytest.raises(PaymentConflict):
        await stack.withdrawals.request(request.model_copy(update={"address_to": XRP}))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"payment_id": 999}, "not in the platform's currency list"),
        ({"address_to": "not an address"}, "is not an address of that network"),
        ({"payment_id": XRP_ID, "address_to": XRP}, "needs a destination tag"),
        ({"amount": Decimal("0.5")}, "under the currency's minimum"),
        ({"amount": Decimal("250000")}, "exceeds the platform balance"),  # checked by default
        ({"amount": Decimal("2000")}, "is over the maximum payout of 1000 USD"),
        (
            {"payment_id": ETH_ID, "address_to": ETH, "amount": Decimal("1e39")},
            "exceeds the platform balance",
        ),
        (
            {
                "payment_id": ETH_ID,
                "address_to": ETH,
                "amount": Decimal("1e39"),
                "check_balance": False,
            },
            "is over the maximum payout",
        ),
    ],
    ids=[
        "unknown-currency",
        "bad-address",
        "missing-tag",
        "too-small",
        "over-balance",
        "over-default-max",
        "huge-eth",
        "huge-eth-no-balance-check",
    ],
)
async def test_refused_before_anything_is_sent(
    stack: Stack, sim: PassimpaySandbox, overrides: dict[str, object], reason: str
) -> None:
    request = payout(**overrides)
    sends_before, calls_before = sim.calls[WITHDRAW], len(sim.withdraw_calls)
    with pytest.raises(WithdrawalRejected) as rejected:
        await stack.withdrawals.request(request)
    assert rejected.value.view.status == "rejected"
    assert reason in (rejected.value.view.reason or "")
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=stack.merchant) as http:
        again = await http.post("/v1/crypto/withdrawals", json=request.model_dump(mode="json"))
    assert again.status_code == 422 and again.json()["withdrawal"]["status"] == "rejected"
    assert sim.calls[WITHDRAW] == sends_before and len(sim.withdraw_calls) == calls_before


async def test_tag_network_accepts_address_with_tag(stack: Stack, sim: PassimpaySandbox) -> None:
    request = payout(payment_id=XRP_ID, address_to=f"{XRP}:12345", amount=Decimal("3"))
    view = await stack.withdrawals.request(request)
    assert view.currency == "XRP (XRP)"
    assert (await ended(stack.withdrawals, request.order_id)).status == "paid"


@pytest.mark.parametrize(
    ("payment_id", "address_to", "amount", "spelling"),
    [
        (ETH_ID, ETH, "0.01", "lower"),
        (ETH_ID, ETH, "0.01", "upper"),
        (XRP_ID, f"{XRP}:12345", "3", "tag_apart"),
    ],
    ids=["evm-lower-case", "evm-upper-case", "xrp-tag-apart"],
)
async def test_the_providers_spelling_of_our_address_is_still_our_payout(
    stack: Stack,
    sim: PassimpaySandbox,
    payment_id: int,
    address_to: str,
    amount: str,
    spelling: AddressSpelling,
) -> None:
    # the provider writes addressTo its own way: case-insensitive hex, or the tag apart
    sim.withdrawals.behave(address_spelling=spelling)
    request = payout(payment_id=payment_id, address_to=address_to, amount=Decimal(amount))
    await stack.withdrawals.request(request)
    view = await ended(stack.withdrawals, request.order_id, *ENDED, "outcome_unknown")
    assert view.status == "paid" and not view.needs_attention, view.attention_reason
    assert view.send_attempts == 1 and sim.payouts[request.order_id] == 1


async def test_a_base58_address_in_another_case_is_another_payout(
    stack: Stack, sim: PassimpaySandbox
) -> None:
    sim.withdrawals.behave(address_spelling="lower")  # a Tron address in another case is not ours
    request = payout()
    await stack.withdrawals.request(request)
    view = await ended(stack.withdrawals, request.order_id, *ENDED, "outcome_unknown")
    assert view.status == "outcome_unknown" and view.needs_attention
    assert "the orderId holds a different payout" in (view.attention_reason or "")
    assert view.send_attempts == 1 and sim.payouts[request.order_id] == 1


# --- the rate limit ---------------------------------------------------------------------------


async def test_burst_never_breaks_the_rate_limit(stack: Stack, sim: PassimpaySandbox) -> None:
    first_call, violations = len(sim.withdraw_calls), sim.violations
    requests = [payout() for _ in range(8)]
    await asyncio.gather(*(stack.withdrawals.request(request) for request in requests))
    views = await asyncio.gather(
        *(ended(stack.withdrawals, request.order_id, timeout=40) for request in requests)
    )
    assert [view.status for view in views] == ["paid"] * 8
    assert all(sim.payouts[request.order_id] == 1 for request in requests)
    calls = sim.withdraw_calls[max(first_call - 1, 0) :]
    assert len(calls) >= 8 and min(gaps(calls)) >= 1.0
    assert sim.violations == violations


# --- a worker dies between sending and recording ----------------------------------------------


class HeldReplies:
    """A proxy in front of the simulator that holds `/v2/withdraw` replies until released,
    after the provider has committed the payout: the window in which a worker can die."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.released = asyncio.Event()
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self._forward, methods=["POST"])

    async def _forward(self, path: str, request: Request) -> Response:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name in ("content-type", "x-signature")
        }
        async with httpx.AsyncClient() as http:
            reply = await http.post(
                f"{self.target}/{path}", content=await request.body(), headers=headers
            )
        if path.endswith("v2/withdraw"):
            await asyncio.wait_for(self.released.wait(), timeout=60)
        return Response(reply.content, reply.status_code, media_type="application/json")


@pytest_asyncio.fixture(loop_scope="session")
async def held(stack: Stack) -> AsyncIterator[tuple[HeldReplies, RunningServer]]:
    proxy = HeldReplies(stack.sandbox.passimpay_url)
    async with serve(proxy.app) as server:
        yield proxy, server
        proxy.released.set()


def worker_env(
    temporal: DevServer, task_queue: str, passimpay_url: str, state_dir: str
) -> dict[str, str]:
    return {
        **os.environ,
        "PAYFLOW_STATE_DIR": state_dir,
        "TEMPORAL_ADDRESS": temporal.address,
        "PAYFLOW_INSECURE": "true",  # the simulator's credentials
        "PAYFLOW_PAYLOAD_KEYS": PAYLOAD_KEYS_ENV,
        "PAYFLOW_TASK_QUEUE": task_queue,
        "PASSIMPAY_API_URL": passimpay_url,
        "PASSIMPAY_PLATFORM_ID": str(SANDBOX_PASSIMPAY_PLATFORM),
        "PASSIMPAY_API_KEY": SANDBOX_PASSIMPAY_KEY,
        "PASSIMPAY_TIMEOUT_SECONDS": "30",
    }


async def test_worker_killed_between_sending_and_recording(
    stack: Stack,
    sim: PassimpaySandbox,
    temporal_server: DevServer,
    held: tuple[HeldReplies, RunningServer],
    tmp_path: Path,
) -> None:
    proxy, proxy_server = held
    task_queue = f"payflow-wd-kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    withdrawals = PassimpayWithdrawals(stack.client, task_queue=task_queue)
    first = start_worker_process(
        worker_env(temporal_server, task_queue, proxy_server.url, stack.settings.state_dir), log
    )
    second: subprocess.Popen[bytes] | None = None
    try:
        request = payout()
        sends_before = sim.calls[WITHDRAW]
        await withdrawals.request(request)
        await eventually(
            lambda: asyncio.sleep(0, sim.payouts[request.order_id]), lambda n: n == 1, timeout=30
        )
        first.send_signal(signal.SIGKILL)  # committed at the provider, the reply still held
        first.wait(timeout=10)
        proxy.released.set()
        second = start_worker_process(
            worker_env(
                temporal_server, task_queue, stack.sandbox.passimpay_url, stack.settings.state_dir
            ),
            log,
        )
        view = await ended(withdrawals, request.order_id, timeout=90)
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)
    assert view.status == "paid"
    assert view.send_attempts == 1 and view.ambiguous_rounds == 1
    assert sim.calls[WITHDRAW] - sends_before == 1
    assert sim.payouts[request.order_id] == 1
    assert SANDBOX_PASSIMPAY_KEY not in log.read_text(errors="replace")


async def test_nonsense_polling_is_refused_before_anything_starts(stack: Stack) -> None:
    body = payout().model_dump(mode="json")
    body["timing"]["active_poll_seconds"] = 1e-9
    async with httpx.AsyncClient(base_url=stack.gateway.url, headers=stack.merchant) as http:
        refused = await http.post("/v1/crypto/withdrawals", json=body)
    assert refused.status_code == 422 and "active_poll_seconds" in refused.text
    handle = stack.client.get_workflow_handle(withdrawal_workflow_id(body["order_id"]))
    with pytest.raises(RPCError):
        await handle.describe()  # no workflow was started
