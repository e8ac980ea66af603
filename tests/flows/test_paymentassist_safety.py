"""Checkout safety under an unreachable or vague lender, one-shot captures and operator tokens.

Everything runs against the real dev server, worker, gateway and simulator over loopback; the
front door makes the lender unreachable (requests that never leave) without touching our code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode

from payflow.checkouts import CheckoutNotStarted, PaymentAssistCheckouts, ResolutionRefused
from payflow.search_attributes import NEEDS_ATTENTION, PAYMENT_STATUS, PAYMENT_TOKEN_DIGEST
from payflow.settings import PayflowSettings
from payflow.workflow_calls import PaymentNotFound
from providers.paymentassist import PaymentAssistClient
from sandbox.paymentassist import FrontDoor, StatusVariants, front_door
from state.checkout_models import (
    TOKEN_DIGEST,
    CheckoutTiming,
    CheckoutView,
    InvoiceDocument,
    OperatorResolution,
    TokenClaim,
    token_digest,
)
from tests.conftest import Stack
from tests.flows.helpers import (
    FAST_POLLING,
    browser_get,
    checkout_request,
    eventually,
    new_order_id,
    wait_for_status,
)
from worker import running_worker
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3, checkout_workflow_id
from workflows.paymentassist_token_claim import PaymentAssistTokenClaim, claim_workflow_id

KEY, SECRET = "demo_key", "demo_sandbox_secret"
BIG, SMALL = 499_900, 10_000  # £4,999 orders and a £100 application


@pytest.fixture(autouse=True)
def _healthy_lender(stack: Stack):  # type: ignore[no-untyped-def]
    sim = stack.sandbox.paymentassist
    sim.faults.clear()
    sim.variants = StatusVariants()
    yield
    sim.faults.clear()
    sim.variants = StatusVariants()


@dataclass(frozen=True)
class DoorStack:
    """A worker that reaches the simulator only through a front door the test can shut."""

    door: FrontDoor
    checkouts: PaymentAssistCheckouts


@pytest_asyncio.fixture(loop_scope="session")
async def behind_door(stack: Stack) -> AsyncIterator[DoorStack]:
    queue = f"door-{uuid.uuid4().hex[:8]}"
    settings = stack.settings.model_copy(
        update={"task_queue": queue, "withdrawal_task_queue": f"{queue}-gate"}
    )
    async with front_door(stack.sandbox.paymentassist_url) as door:
        client = PaymentAssistClient(door.url, KEY, SECRET, timeout=2.0)
        async with running_worker(stack.client, settings=settings, paymentassist=client):
            checkouts = PaymentAssistCheckouts(
                stack.client, task_queue=settings.task_queue, public_url=stack.settings.public_url
            )
            yield DoorStack(door, checkouts)


async def attributes(stack: Stack, order_id: str) -> tuple[str | None, bool | None]:
    described = await stack.client.get_workflow_handle(checkout_workflow_id(order_id)).describe()
    found = described.typed_search_attributes
    return found.get(PAYMENT_STATUS), found.get(NEEDS_ATTENTION)


async def lost_begin(stack: Stack, amount: int) -> str:
    """A checkout whose `/begin` reply was lost: the lender holds an application we never saw."""
    stack.sandbox.paymentassist.faults.fail_next("begin", "lose_response")
    request = checkout_request(amount=amount)
    with pytest.raises(CheckoutNotStarted):
        await stack.checkouts.start(request)
    return request.order_id


def lender_token(stack: Stack, order_id: str) -> str:
    (application,) = stack.sandbox.paymentassist.applications_for_order(order_id)
    return application.token


# --- /begin: resent only when nothing left ---------------------------------------------------


async def test_unreachable_lender_begin_is_resent_flagged_then_started(
    stack: Stack, behind_door: DoorStack
) -> None:
    sim = stack.sandbox.paymentassist
    begins = sim.calls["begin"]
    await behind_door.door.shut()
    timing = CheckoutTiming(attention_after_seconds=1.5, idle_poll_seconds=2)
    request = checkout_request(timing=timing)
    start = asyncio.ensure_future(behind_door.checkouts.start(request))

    async def view_once_started() -> CheckoutView | None:
        with contextlib.suppress(PaymentNotFound):
            return await behind_door.checkouts.get(request.order_id)
        return None

    found = await eventually(
        view_once_started, lambda v: v is not None and v.needs_attention, timeout=30
    )
    assert found is not None
    view = found
    assert view.status == "created" and view.begin_attempts >= 2
    assert view.calls_failing and "not sent" in view.calls_failing
    assert await attributes(stack, request.order_id) == ("created", True)
    assert sim.calls["begin"] == begins and not start.done()

    await behind_door.door.open()
    started = await asyncio.wait_for(start, timeout=60)
    assert started.status == "awaiting_customer"
    assert sim.calls["begin"] == begins + 1
    assert len(sim.applications_for_order(request.order_id)) == 1
    view = await behind_door.checkouts.get(request.order_id)
    assert not view.needs_attention and view.calls_failing is None
    assert await attributes(stack, request.order_id) == ("awaiting_customer", False)


async def test_lost_begin_reply_is_not_resent(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    begins = sim.calls["begin"]
    order_id = await lost_begin(stack, 49_900)
    assert sim.calls["begin"] == begins + 1
    assert len(sim.applications_for_order(order_id)) == 1
    assert await attributes(stack, order_id) == ("needs_attention", True)


# --- tolerant reader, loud failure -----------------------------------------------------------


async def test_status_in_every_open_format_still_completes(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    sim.variants = StatusVariants(
        date_format="php",
        pa_ref_as_number=True,
        extra_fields=True,
        underscore_in_progress=True,
        numeric_strings=True,
    )
    request = checkout_request(timing=FAST_POLLING)
    started = await stack.checkouts.start(request)
    sim.open_page(sim.application(started.token))
    await eventually(
        lambda: stack.checkouts.get(request.order_id), lambda v: v.provider_status == "in progress"
    )
    await sim.decide(started.token, "approve")
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.pa_ref and view.pa_ref.isdigit()
    assert not view.needs_attention and view.requires_invoice is False


async def test_failing_status_checks_raise_attention_then_clear(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    timing = FAST_POLLING.model_copy(update={"attention_after_seconds": 1.0})
    request = checkout_request(timing=timing)
    await stack.checkouts.start(request)
    await eventually(lambda: stack.checkouts.get(request.order_id), lambda v: v.status_checks >= 1)

    sim.faults.fail_next("status", "503", times=100_000)
    view = await eventually(
        lambda: stack.checkouts.get(request.order_id), lambda v: v.needs_attention, timeout=40
    )
    assert view.status == "awaiting_customer"
    assert view.calls_failing and "/status" in view.calls_failing
    assert await attributes(stack, request.order_id) == ("awaiting_customer", True)

    sim.faults.clear()
    view = await eventually(
        lambda: stack.checkouts.get(request.order_id), lambda v: not v.needs_attention, timeout=40
    )
    assert view.calls_failing is None
    assert await attributes(stack, request.order_id) == ("awaiting_customer", False)


async def test_a_refused_status_keeps_reading_and_completes_once_the_lender_answers(
    stack: Stack,
) -> None:
    """A WAF answers 403 to `/status` for a while; meanwhile the customer completes at the
    lender (its webhook lost): the checkout keeps reading, then completes and clears attention."""
    sim = stack.sandbox.paymentassist
    sim.faults.drop_webhooks()
    timing = CheckoutTiming(active_poll_seconds=0.3, idle_poll_seconds=1.0, invoice_watch_seconds=0)
    request = checkout_request(timing=timing)
    started = await stack.checkouts.start(request)
    sim.faults.fail_next("status", "403", times=100_000)
    view = await wait_for_status(stack.checkouts, request.order_id, "needs_attention")
    assert view.needs_attention and view.attention_reason and "403" in view.attention_reason
    await sim.decide(started.token, "approve")  # funded at the lender; nobody tells us
    reads = sim.calls["status"]

    async def status_reads() -> int:
        return sim.calls["status"]

    await eventually(status_reads, lambda seen: seen >= reads + 2)  # still reading, backing off
    sim.faults.clear()  # the lender answers again
    view = await wait_for_status(stack.checkouts, request.order_id, "completed", "failed")
    assert view.status == "completed" and view.provider_status == "completed"
    assert not view.needs_attention and view.attention_reason is None
    events = [entry.event for entry in view.journal if entry.target is not None]
    assert events[-3:] == ["flag", "recover", "complete"]
    assert await attributes(stack, request.order_id) == ("completed", False)


# --- provider truth: the lender's amount is the order's ------------------------------------------


@pytest.mark.parametrize("auto_capture", [True, False])
async def test_an_application_lowered_at_the_lender_does_not_complete_the_order(
    stack: Stack, auto_capture: bool
) -> None:
    """The lender funds less than the order (an underwriter's change): the checkout records
    the lender's amount and asks an operator; it neither completes nor captures."""
    sim = stack.sandbox.paymentassist
    request = checkout_request(auto_capture=auto_capture, capture="automatic")
    started = await stack.checkouts.start(request)
    captures = sim.calls["capture"]
    sim.set_amount(started.token, SMALL)
    await browser_get(await sim.decide(started.token, "approve"))
    view = await wait_for_status(
        stack.checkouts, request.order_id, "needs_attention", "completed", "pending_capture"
    )
    assert view.status == "needs_attention" and view.needs_attention
    assert view.amount == request.amount and view.lender_amount == SMALL
    assert view.attention_reason and f"{SMALL} pence" in view.attention_reason
    assert sim.calls["capture"] == captures  # nothing captured at the lower amount
    assert await attributes(stack, request.order_id) == ("needs_attention", True)


# --- provider truth: one capture, requires_invoice re-read --------------------------------------


async def pending_capture(stack: Stack) -> tuple[str, str]:
    sim = stack.sandbox.paymentassist
    request = checkout_request(auto_capture=False, capture="on_request")
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))  # the customer's return
    await wait_for_status(stack.checkouts, request.order_id, "pending_capture")
    return request.order_id, started.token


async def test_capture_whose_reply_is_lost_is_settled_by_status(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    order_id, token = await pending_capture(stack)
    captures = sim.calls["capture"]
    sim.faults.fail_next("capture", "lose_response")
    view = await stack.checkouts.capture(order_id)
    assert view.status == "completed" and view.capture_error is None
    assert sim.calls["capture"] == captures + 1
    assert sim.application(token).status == "completed"


async def test_capture_that_may_have_failed_is_not_resent(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    order_id, token = await pending_capture(stack)
    captures = sim.calls["capture"]
    sim.faults.fail_next("capture", "503")
    view = await stack.checkouts.capture(order_id)
    assert view.status == "pending_capture"
    assert view.capture_error and "outcome unknown" in view.capture_error
    assert sim.calls["capture"] == captures + 1  # /status said pending_capture; no blind resend

    view = await stack.checkouts.capture(order_id)
    assert view.status == "completed" and sim.calls["capture"] == captures + 2


async def test_invoice_required_after_completion_is_noticed(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    timing = FAST_POLLING.model_copy(
        update={"invoice_poll_seconds": 0.3, "invoice_watch_seconds": 600}
    )
    request = checkout_request(timing=timing)
    started = await stack.checkouts.start(request)
    await sim.decide(started.token, "approve")
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.requires_invoice is False

    sim.set_requires_invoice(started.token)
    await eventually(lambda: stack.checkouts.get(request.order_id), lambda v: v.requires_invoice)
    document = InvoiceDocument(filetype="txt", data_base64=base64.b64encode(b"invoice").decode())
    await stack.checkouts.upload_invoice(request.order_id, document)
    await wait_for_status(stack.checkouts, request.order_id, "invoiced")
    assert sim.application(started.token).has_invoice is True


async def test_without_invoice_the_watch_ends_completed(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    timing = FAST_POLLING.model_copy(
        update={"invoice_poll_seconds": 0.3, "invoice_watch_seconds": 2}
    )
    request = checkout_request(timing=timing)
    started = await stack.checkouts.start(request)
    await sim.decide(started.token, "approve")
    handle = stack.client.get_workflow_handle_for(
        PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
    )
    view = await asyncio.wait_for(handle.result(), timeout=30)
    # one read saw it completed; any more were re-reads during the watch
    assert view.status == "completed" and view.status_checks >= 2


# --- operator resolution checked against the lender --------------------------------------------


async def test_resolution_with_a_smaller_application_is_refused(stack: Stack) -> None:
    order_id = await lost_begin(stack, BIG)
    async with PaymentAssistClient(stack.sandbox.paymentassist_url, KEY, SECRET) as lender:
        small = await lender.begin(
            {"order_id": new_order_id("small"), "amount": SMALL, "email": "a@b.co",
             "f_name": "A", "s_name": "B", "addr1": "1 Road", "postcode": "AB1 2CD"}
        )  # fmt: skip
    with pytest.raises(ResolutionRefused) as refused:
        await stack.checkouts.resolve(order_id, OperatorResolution(token=small.token))
    assert f"{SMALL} pence" in refused.value.reason and f"{BIG} pence" in refused.value.reason

    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.operator, timeout=30
    ) as http:
        answer = await http.post(f"/v1/checkouts/{order_id}/resolve", json={"token": small.token})
    assert answer.status_code == 422 and "pence" in answer.json()["reason"]
    view = await stack.checkouts.get(order_id)
    assert view.status == "needs_attention" and view.token is None


async def test_one_application_cannot_complete_two_orders(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    first, second = await lost_begin(stack, BIG), await lost_begin(stack, BIG)
    token = lender_token(stack, first)
    view = await stack.checkouts.resolve(first, OperatorResolution(token=token))
    assert view.status == "awaiting_customer" and view.claimed_token == token

    # the first shows the token's digest by now; were visibility behind, its claim refuses
    with pytest.raises(ResolutionRefused, match="already (shown|held) by another checkout"):
        await stack.checkouts.resolve(second, OperatorResolution(token=token))
    assert (await stack.checkouts.get(second)).status == "needs_attention"

    own = lender_token(stack, second)
    view = await stack.checkouts.resolve(second, OperatorResolution(token=own))
    assert view.status == "awaiting_customer"
    await sim.decide(token, "approve")
    await wait_for_status(stack.checkouts, first, "completed")
    assert (await stack.checkouts.get(second)).status == "awaiting_customer"


async def test_token_of_a_started_checkout_cannot_be_attached_elsewhere(stack: Stack) -> None:
    """A `/begin` token is not claimed; the other checkout showing its digest refuses it."""
    running = checkout_request(amount=BIG)
    started = await stack.checkouts.start(running)
    orphan = await lost_begin(stack, BIG)
    with pytest.raises(ResolutionRefused, match="already shown by another checkout") as refused:
        await stack.checkouts.resolve(orphan, OperatorResolution(token=started.token))
    assert checkout_workflow_id(running.order_id) in refused.value.reason
    assert await claim_holder(stack, started.token) is None  # refused before any claim
    assert (await stack.checkouts.get(orphan)).status == "needs_attention"


async def claim_holder(stack: Stack, token: str) -> str | None:
    """The order whose claim holds `token`, or None when no claim was started."""
    claim = stack.client.get_workflow_handle(claim_workflow_id(token))
    try:
        first = [event async for event in claim.fetch_history_events()][0]
    except RPCError as error:
        assert error.status == RPCStatusCode.NOT_FOUND
        return None
    started = first.workflow_execution_started_event_attributes
    [held] = await stack.client.data_converter.decode(started.input.payloads, [TokenClaim])
    return str(held.order_id)


async def test_a_begun_checkout_writes_no_patch_marker_memo_or_claim(stack: Stack) -> None:
    """The current type decides by its type, not by patches: its idle point is reached without
    a patch marker, a `TemporalChangeVersion` upsert, a memo change or a token claim, and the
    token's digest is a search attribute the gateway binds hints with."""
    started = await stack.checkouts.start(checkout_request())
    handle = stack.client.get_workflow_handle(checkout_workflow_id(started.order_id))
    await wait_for_status(stack.checkouts, started.order_id, "awaiting_customer")
    events = [event async for event in handle.fetch_history_events()]
    kinds = {event.event_type for event in events}
    assert EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED not in kinds  # no memo upsert
    markers = [
        event.marker_recorded_event_attributes.marker_name
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert "core_patch" not in markers, markers
    upserted = [
        set(
            event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        )
        for event in events
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    assert not [names for names in upserted if "TemporalChangeVersion" in names], upserted
    assert [names for names in upserted if {"PaymentStatus", PAYMENT_TOKEN_DIGEST.name} <= names]
    described = await handle.describe()
    assert described.workflow_type == "PaymentAssistCheckoutV3"
    digest = token_digest(started.token)
    assert described.typed_search_attributes.get(PAYMENT_TOKEN_DIGEST) == digest
    assert TOKEN_DIGEST not in await described.memo()  # the starter's summary alone
    assert await claim_holder(stack, started.token) is None
    assert (await stack.checkouts.get(started.order_id)).claimed_token is None


async def test_a_begun_token_claimed_by_another_order_does_not_complete(stack: Stack) -> None:
    """An operator attached this checkout's token to another order (its claim names that
    order): the lender's completion moves this checkout to needs attention, not completed."""
    sim = stack.sandbox.paymentassist
    request = checkout_request(timing=FAST_POLLING)
    started = await stack.checkouts.start(request)
    claim = await stack.client.start_workflow(
        PaymentAssistTokenClaim.run,
        TokenClaim(token=started.token, order_id="elsewhere"),
        id=claim_workflow_id(started.token),
        task_queue=stack.settings.task_queue,
        start_delay=timedelta(days=1),  # held, never run
    )
    try:
        await browser_get(await sim.decide(started.token, "approve"))
        view = await wait_for_status(stack.checkouts, request.order_id, "needs_attention")
    finally:
        await claim.terminate()
    assert view.attention_reason is not None
    assert claim_workflow_id(started.token) in view.attention_reason
    assert "order elsewhere" in view.attention_reason


async def test_unknown_token_is_refused_and_the_checkout_can_be_closed(stack: Stack) -> None:
    order_id = await lost_begin(stack, 49_900)
    with pytest.raises(ResolutionRefused, match="could not confirm"):
        await stack.checkouts.resolve(order_id, OperatorResolution(token=str(uuid.uuid4())))
    view = await stack.checkouts.resolve(order_id, OperatorResolution(close_reason="lost"))
    assert view.status == "failed" and view.failure_reason == "closed by operator: lost"


# --- the worker bounds provider calls in flight ----------------------------------------------


async def test_worker_bounds_calls_in_flight_from_settings(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYFLOW_MAX_CONCURRENT_ACTIVITIES", "7")
    monkeypatch.setenv("PAYFLOW_MAX_CONCURRENT_WORKFLOW_TASKS", "3")
    queue = f"bounded-{uuid.uuid4().hex[:8]}"
    settings = PayflowSettings(
        task_queue=queue,
        withdrawal_task_queue=f"{queue}-gate",
        database_url=stack.settings.ledger_url(),
    )
    client = PaymentAssistClient(stack.sandbox.paymentassist_url, KEY, SECRET)
    async with running_worker(stack.client, settings=settings, paymentassist=client) as worker:
        config = worker.config()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_concurrent_workflow_tasks") == 3
    assert PayflowSettings().max_concurrent_activities == 7
