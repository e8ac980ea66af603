"""Payment Assist checkouts end to end: real Temporal dev server, gateway and simulator over HTTP."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from payflow.checkouts import CheckoutNotStarted
from payflow.notifications import (
    TOLERANCE_SECONDS,
    InvalidSignature,
    signed_return_query,
    verify_return,
)
from payflow.search_attributes import PAYMENT_STATUS
from payflow.workflow_calls import PaymentConflict
from providers.paymentassist.signing import sign_webhook
from state.checkout_models import InvoiceDocument, OperatorResolution
from tests.conftest import NOTIFY_SECRET, Stack
from tests.flows.helpers import (
    FAST_POLLING,
    SLOW_POLLING,
    another_gateway,
    browser_get,
    checkout_request,
    customer,
    decoded_history,
    eventually,
    new_order_id,
    wait_for_status,
)
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3, checkout_workflow_id

SECRET = "demo_sandbox_secret"
NO_WATCH = SLOW_POLLING.model_copy(update={"invoice_watch_seconds": 0})
"""Ends at completion when no invoice is required, so a test can await the result."""


@pytest.fixture(autouse=True)
def _clear_faults(stack: Stack):  # type: ignore[no-untyped-def]
    stack.sandbox.paymentassist.faults.clear()
    yield
    stack.sandbox.paymentassist.faults.clear()


def applied_events(view) -> list[str]:  # type: ignore[no-untyped-def]
    return [entry.event for entry in view.journal if entry.target is not None]


async def test_approval_with_customer_return(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    sim.faults.drop_webhooks()
    request = checkout_request(timing=NO_WATCH)
    started = await stack.checkouts.start(request)
    assert started.url.startswith(sim.base_url) and len(started.token) == 36

    redirect = await sim.decide(started.token, "approve")
    assert redirect.startswith(f"{stack.settings.public_url}/return/paymentassist?")
    page = await browser_get(redirect)
    assert page.status_code == 200 and "Thank you" in page.text

    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.provider_status == "completed" and view.pa_ref
    assert [hint.kind for hint in view.hints] == ["return"]
    assert applied_events(view) == ["begin", "complete"]
    handle = stack.client.get_workflow_handle_for(
        PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
    )
    assert (await handle.result()).status == "completed"
    described = await handle.describe()
    assert described.typed_search_attributes.get(PAYMENT_STATUS) == "completed"


async def test_return_lost_but_webhook_arrives(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request()
    started = await stack.checkouts.start(request)
    await sim.decide(started.token, "approve")  # the browser never comes back
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert [hint.kind for hint in view.hints] == ["webhook"]
    assert view.hints[0].detail == "application.completed"


async def test_return_and_webhook_lost_polling_finds_outcome(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    sim.faults.drop_webhooks()
    request = checkout_request(timing=FAST_POLLING)
    started = await stack.checkouts.start(request)
    await eventually(lambda: stack.checkouts.get(request.order_id), lambda v: v.status_checks >= 1)
    await sim.decide(started.token, "approve")
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.hints == [] and view.status_checks >= 2


async def test_declined_preapproval_sends_no_begin(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    begins = sim.calls["begin"]
    request = checkout_request(preapproval=True, customer=customer(s_name="Decline"))
    with pytest.raises(CheckoutNotStarted) as refused:
        await stack.checkouts.start(request)
    assert refused.value.view.status == "declined"
    assert sim.calls["begin"] == begins
    assert sim.applications_for_order(request.order_id) == []


async def test_approved_preapproval_then_begin(stack: Stack) -> None:
    request = checkout_request(preapproval=True)
    started = await stack.checkouts.start(request)
    view = await stack.checkouts.get(request.order_id)
    assert started.status == "awaiting_customer"
    assert applied_events(view) == ["preapprove", "begin"]


async def test_declined_by_lender_fails(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request()
    started = await stack.checkouts.start(request)
    redirect = await sim.decide(started.token, "decline")
    page = await browser_get(redirect)
    assert page.status_code == 200 and "did not go through" in page.text
    view = await wait_for_status(stack.checkouts, request.order_id, "failed")
    assert view.provider_status == "failed"


async def test_expired_application(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    sim.faults.drop_webhooks()
    request = checkout_request(expiry_seconds=1, timing=FAST_POLLING)
    await stack.checkouts.start(request)
    view = await wait_for_status(stack.checkouts, request.order_id, "expired")
    assert view.provider_status == "expired"


async def test_pending_capture_then_capture_on_request(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request(auto_capture=False, capture="on_request")
    captures = sim.calls["capture"]
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))
    await wait_for_status(stack.checkouts, request.order_id, "pending_capture")
    assert sim.calls["capture"] == captures  # nothing captured until the merchant asks
    assert sim.application(started.token).status == "pending_capture"

    view = await stack.checkouts.capture(request.order_id)
    assert view.status == "completed" and view.capture_attempts == 1
    assert sim.application(started.token).status == "completed"


async def test_automatic_capture(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request(auto_capture=False, capture="automatic")
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.capture_attempts == 1 and view.capture_error is None


async def test_capture_whose_deposit_fails(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request(auto_capture=False, capture="on_request")
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))
    await wait_for_status(stack.checkouts, request.order_id, "pending_capture")

    sim.faults.fail_deposit(started.token, reason="card declined")
    view = await stack.checkouts.capture(request.order_id)
    assert view.status == "pending_capture"
    assert view.capture_error is not None and "card declined" in view.capture_error

    view = await stack.checkouts.capture(request.order_id)
    assert view.status == "completed" and view.capture_attempts == 2


async def test_invoice_required_then_uploaded_once(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request()
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve", requires_invoice=True))
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert view.requires_invoice is True and view.has_invoice is False

    document = InvoiceDocument(
        filetype="pdf", data_base64=base64.b64encode(b"%PDF-1.4 inv").decode()
    )
    invoices = sim.calls["invoice"]
    view = await stack.checkouts.upload_invoice(request.order_id, document)
    assert view.invoice_uploaded is True
    view = await wait_for_status(stack.checkouts, request.order_id, "invoiced")
    assert sim.calls["invoice"] == invoices + 1
    assert sim.application(started.token).has_invoice is True
    with pytest.raises(PaymentConflict):
        await stack.checkouts.upload_invoice(request.order_id, document)
    assert sim.calls["invoice"] == invoices + 1


async def test_cancellation_expires_the_application(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request()
    started = await stack.checkouts.start(request)
    view = await stack.checkouts.cancel(request.order_id)
    assert view.status == "cancelled"
    assert sim.application(started.token).status == "expired"
    with pytest.raises(PaymentConflict):
        await stack.checkouts.cancel(request.order_id)


async def test_same_order_started_twice_makes_one_application(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request()
    body = request.model_dump(mode="json")
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        first, second = await asyncio.gather(
            http.post("/v1/checkouts", json=body), http.post("/v1/checkouts", json=body)
        )
        assert first.status_code == second.status_code == 201
        assert first.json()["token"] == second.json()["token"]
        third = await http.post("/v1/checkouts", json=body)
        assert third.json()["token"] == first.json()["token"]
        different = await http.post("/v1/checkouts", json={**body, "amount": 100})
        assert different.status_code == 409
    assert len(sim.applications_for_order(request.order_id)) == 1


async def test_started_again_after_it_ended_answers_from_final_state(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request(timing=NO_WATCH)
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    await stack.client.get_workflow_handle_for(
        PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
    ).result()
    again = await stack.checkouts.start(request)
    assert again.token == started.token and again.status == "completed"
    assert len(sim.applications_for_order(request.order_id)) == 1


async def test_duplicated_and_replayed_hints_have_no_double_effect(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    sim.faults.duplicate_webhooks()
    request = checkout_request(auto_capture=False, capture="automatic")
    started = await stack.checkouts.start(request)
    redirect = await sim.decide(started.token, "approve")
    await asyncio.gather(*(browser_get(redirect) for _ in range(3)))
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    await sim.wait_idle()
    assert sim.calls["capture"] >= 1 and view.capture_attempts == 1
    assert applied_events(view).count("complete") == 1

    replay = await browser_get(redirect)  # after the checkout has ended
    assert replay.status_code == 200
    final = await stack.checkouts.get(request.order_id)
    assert final.status == "completed" and final.capture_attempts == 1


async def test_a_return_right_after_the_webhook_costs_no_second_status_check(
    stack: Stack,
) -> None:
    """The lender's webhook and the customer's return announce one approval: once `/status`
    confirmed it, the return a moment later is only counted."""
    sim = stack.sandbox.paymentassist
    request = checkout_request()  # the invoice watch keeps it open and listening
    started = await stack.checkouts.start(request)
    checks = sim.calls["status"]
    redirect = await sim.decide(started.token, "approve")
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert sim.calls["status"] == checks + 1

    assert (await browser_get(redirect)).status_code == 200
    view = await eventually(
        lambda: stack.checkouts.get(request.order_id), lambda view: view.hints_coalesced == 1
    )
    assert [hint.kind for hint in view.hints] == ["webhook"]
    assert sim.calls["status"] == checks + 1 and view.status_checks == 1


async def test_forged_return_and_webhook_are_rejected(stack: Stack) -> None:
    request = checkout_request()
    started = await stack.checkouts.start(request)
    base = stack.gateway.url
    forged_return = (
        f"{base}/return/paymentassist?order_id={request.order_id}"
        f"&token={started.token}&status=success&signature={'0' * 64}"
    )
    assert (await browser_get(forged_return)).status_code == 400

    payload = {
        "event_name": "application.completed",
        "event_data": {"token": started.token},
        "event_time": "2026-11-22 10:00:00 UTC",
    }
    wrong = {**payload, "signature": sign_webhook(payload, "demo_not_the_secret")}
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        url = f"/webhooks/paymentassist?order_id={request.order_id}"
        assert (await http.post(url, json=wrong)).status_code == 401
        unsigned = await http.post(url, json=payload)
        assert unsigned.status_code == 401
        genuine = {**payload, "signature": sign_webhook(payload, SECRET)}
        assert (await http.post(url, json=genuine)).status_code == 200

    view = await eventually(
        lambda: stack.checkouts.get(request.order_id), lambda v: len(v.hints) == 1
    )
    assert view.status == "awaiting_customer"  # a genuine hint still changes nothing by itself


async def test_lost_begin_response_needs_attention_then_operator_attaches(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    sim.faults.fail_next("begin", "lose_response")
    request = checkout_request()
    with pytest.raises(CheckoutNotStarted) as not_started:
        await stack.checkouts.start(request)
    view = not_started.value.view
    assert view.status == "needs_attention" and view.attention_reason
    applications = sim.applications_for_order(request.order_id)
    assert len(applications) == 1
    described = await stack.client.get_workflow_handle(
        checkout_workflow_id(request.order_id)
    ).describe()
    assert described.typed_search_attributes.get(PAYMENT_STATUS) == "needs_attention"

    token = applications[0].token
    view = await stack.checkouts.resolve(request.order_id, OperatorResolution(token=token))
    assert view.status == "awaiting_customer" and view.token == token
    await sim.decide(token, "approve")
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    assert len(sim.applications_for_order(request.order_id)) == 1


@pytest.mark.parametrize("mode", ["503", "timeout"])
async def test_begin_that_may_have_arrived_is_never_resent(stack: Stack, mode: str) -> None:
    sim = stack.sandbox.paymentassist
    begins = sim.calls["begin"]
    sim.faults.fail_next("begin", mode, delay=3.0)  # type: ignore[arg-type]
    request = checkout_request()
    with pytest.raises(CheckoutNotStarted) as not_started:
        await stack.checkouts.start(request)
    view = not_started.value.view
    assert view.status == "needs_attention" and view.needs_attention
    assert view.attention_reason and "outcome unknown" in view.attention_reason
    assert sim.calls["begin"] == begins + 1


async def test_gateway_api_reads_and_validates(stack: Stack) -> None:
    request = checkout_request()
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        created = await http.post("/v1/checkouts", json=request.model_dump(mode="json"))
        assert created.status_code == 201
        read = await http.get(f"/v1/checkouts/{request.order_id}")
        assert read.status_code == 200 and read.json()["status"] == "awaiting_customer"
        assert (await http.get("/v1/checkouts/no-such-order")).status_code == 404
        pence_as_float = {**request.model_dump(mode="json"), "amount": 499.99}
        assert (await http.post("/v1/checkouts", json=pence_as_float)).status_code == 422
        bad_capture = await http.post(f"/v1/checkouts/{request.order_id}/invoice", json={})
        assert bad_capture.status_code == 422


async def test_order_renamed_after_completion(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request(rename_order_to=new_order_id("final"), timing=NO_WATCH)
    started = await stack.checkouts.start(request)
    await sim.decide(started.token, "approve")
    handle = stack.client.get_workflow_handle_for(
        PaymentAssistCheckoutV3.run, checkout_workflow_id(request.order_id)
    )
    view = await handle.result()
    assert view.status == "completed" and view.renamed_to == request.rename_order_to
    assert sim.application(started.token).order_id == request.rename_order_to


async def test_return_redirects_to_the_merchant_when_configured(stack: Stack) -> None:
    request = checkout_request()
    started = await stack.checkouts.start(request)
    redirect = await stack.sandbox.paymentassist.decide(started.token, "decline")
    async with another_gateway(stack, return_redirect_url="https://shop.example/ok?src=pa") as url:
        answer = await browser_get(redirect.replace(stack.settings.public_url, url))
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(
        f"https://shop.example/ok?src=pa&order_id={request.order_id}&outcome=failed&t="
    )
    assert verify_return(location, NOTIFY_SECRET).outcome == "failed"


def refused(redirect: str | dict[str, str]) -> bool:
    """Whether the merchant's helper detects a forged or tampered redirect."""
    try:
        verify_return(redirect, NOTIFY_SECRET)
    except InvalidSignature:
        return True
    return False


async def test_the_return_redirect_is_signed_and_a_forged_one_is_detected(stack: Stack) -> None:
    request = checkout_request()
    started = await stack.checkouts.start(request)
    redirect = await stack.sandbox.paymentassist.decide(started.token, "decline")
    async with another_gateway(stack, return_redirect_url="https://shop.example/back") as url:
        answer = await browser_get(redirect.replace(stack.settings.public_url, url))
    assert answer.status_code == 303
    location = answer.headers["location"]
    real = verify_return(location, ["an-old-secret", NOTIFY_SECRET])  # a rotation: any matches
    assert (real.order_id, real.outcome) == (request.order_id, "failed")
    query = dict(parse_qsl(urlsplit(location).query))
    assert set(query) == {"order_id", "outcome", "t", "signature"}
    forgeries = {
        "unsigned": {"order_id": request.order_id, "outcome": "success"},
        "outcome changed": {**query, "outcome": "success"},
        "order changed": {**query, "order_id": new_order_id()},
        "timestamp changed": {**query, "t": str(int(query["t"]) + 1)},
        "signature of another secret": signed_return_query(
            "not-the-secret", request.order_id, "success"
        ),
    }
    as_urls = {
        f"{name}, as a URL": f"https://shop.example/back?{urlencode(params)}"
        for name, params in forgeries.items()
    }
    detected = {name for name, forged in {**forgeries, **as_urls}.items() if refused(forged)}
    assert detected == set(forgeries) | set(as_urls)
    stale = int(query["t"]) + TOLERANCE_SECONDS + 1
    with pytest.raises(InvalidSignature, match="timestamp"):
        verify_return(location, NOTIFY_SECRET, now=stale)
    with pytest.raises(InvalidSignature, match="twice"):
        verify_return(f"{location}&outcome=success", NOTIFY_SECRET)
    async with another_gateway(
        stack, return_redirect_url="https://shop.example/back", notify_secret=None
    ) as url:
        unsigned = await browser_get(redirect.replace(stack.settings.public_url, url))
    assert unsigned.status_code == 200 and "Finance not completed" in unsigned.text  # no secret:
    # the gateway's own page, never a redirect the merchant could not verify


async def test_a_return_replayed_for_another_order_signals_nothing_and_reveals_nothing(
    stack: Stack,
) -> None:
    sim = stack.sandbox.paymentassist
    mine, theirs = checkout_request(), checkout_request()
    started = await stack.checkouts.start(mine)
    await stack.checkouts.start(theirs)
    redirect = await sim.decide(started.token, "approve")
    query = f"order_id={mine.order_id}"
    assert query in redirect
    replayed = await browser_get(redirect.replace(query, f"order_id={theirs.order_id}"))
    unknown = await browser_get(redirect.replace(query, f"order_id={new_order_id()}"))
    forged = await browser_get(redirect.replace("signature=", "signature=00"))
    assert replayed.status_code == unknown.status_code == forged.status_code == 400
    assert replayed.text == unknown.text == forged.text  # nothing tells the orders apart
    assert "success" not in replayed.text.lower()
    view = await stack.checkouts.get(theirs.order_id)
    assert view.hints == [] and view.hints_coalesced == 0 and view.status == "awaiting_customer"
    history = await decoded_history(
        stack.client.get_workflow_handle(checkout_workflow_id(theirs.order_id))
    )
    assert started.token not in history  # no signal carried the foreign token in


async def test_the_return_page_says_what_the_checkout_confirmed_not_the_link(
    stack: Stack,
) -> None:
    sim = stack.sandbox.paymentassist
    request = checkout_request()
    started = await stack.checkouts.start(request)
    redirect = await sim.decide(started.token, "decline")
    claims_success = redirect.replace("status=failed", "status=success")
    async with another_gateway(stack, return_redirect_url="https://shop.example/back") as url:
        tampered = await browser_get(claims_success.replace(stack.settings.public_url, url))
        answer = await browser_get(redirect.replace(stack.settings.public_url, url))
    assert tampered.status_code == 400  # the status is signed: a changed one is not valid
    assert answer.status_code == 303
    assert verify_return(answer.headers["location"], NOTIFY_SECRET).outcome == "failed"
    approved = checkout_request(timing=FAST_POLLING)  # polls again once the lender answers
    started = await stack.checkouts.start(approved)
    redirect = await sim.decide(started.token, "approve")
    sim.faults.fail_next("status", "503", times=20, delay=0)  # the lender cannot confirm yet
    try:
        page = await browser_get(redirect)
    finally:
        sim.faults.clear()
    assert "status=success" in redirect  # the link claims success ...
    assert page.status_code == 200 and "We are confirming" in page.text  # ... not confirmed
    await wait_for_status(stack.checkouts, approved.order_id, "completed")
    assert "approved your finance" in (await browser_get(redirect)).text


async def test_a_return_after_the_checkout_ended_is_answered_from_its_record(stack: Stack) -> None:
    sim = stack.sandbox.paymentassist
    ended, other = checkout_request(timing=NO_WATCH), checkout_request(timing=NO_WATCH)
    started = await stack.checkouts.start(ended)
    other_started = await stack.checkouts.start(other)
    redirect = await sim.decide(started.token, "approve")
    other_redirect = await sim.decide(other_started.token, "approve")
    for request in (ended, other):
        await stack.client.get_workflow_handle(checkout_workflow_id(request.order_id)).result()
    page = await browser_get(redirect)
    assert page.status_code == 200 and "approved your finance" in page.text
    query = f"order_id={other.order_id}"
    spliced = other_redirect.replace(query, f"order_id={ended.order_id}")
    assert (await browser_get(spliced)).status_code == 400  # another order's token: not valid


async def test_webhooks_and_returns_arriving_together_ask_the_lender_once_each(
    stack: Stack,
) -> None:
    sim = stack.sandbox.paymentassist
    requests = [checkout_request(timing=NO_WATCH) for _ in range(20)]
    started = await asyncio.gather(*(stack.checkouts.start(r) for r in requests))
    before = sim.calls["status"]
    # each approval sends the lender's webhook at once, and the customer comes straight back
    redirects = await asyncio.gather(*(sim.decide(s.token, "approve") for s in started))
    pages = await asyncio.gather(*(browser_get(redirect) for redirect in redirects))
    assert [page.status_code for page in pages] == [200] * len(requests)
    for request in requests:
        await stack.client.get_workflow_handle(checkout_workflow_id(request.order_id)).result()
        assert (await stack.checkouts.get(request.order_id)).status == "completed"
    assert sim.calls["status"] == before + len(requests)  # one `/status` per checkout


async def test_a_return_whose_status_check_fails_is_retried_within_seconds(stack: Stack) -> None:
    """The lender's `/status` fails through the return's first check (three attempts) and
    once more: the check is retried after a second, not at the next poll (two minutes away)."""
    sim = stack.sandbox.paymentassist
    sim.faults.drop_webhooks()
    request = checkout_request(timing=NO_WATCH)
    started = await stack.checkouts.start(request)
    redirect = await sim.decide(started.token, "approve")
    sim.faults.fail_next("status", "503", times=4)
    page = await browser_get(redirect)
    assert page.status_code == 200
    view = await wait_for_status(stack.checkouts, request.order_id, "completed", timeout=20)
    assert view.status_checks == 1 and sim.faults.snapshot()["endpoints"] == {}
    assert "approved your finance" in (await browser_get(redirect)).text


async def test_a_return_and_webhook_before_begins_reply_are_held_then_applied(
    stack: Stack,
) -> None:
    """The customer finishes at the lender before `/begin`'s reply reaches the checkout: the
    return and the webhook wait for the token instead of being refused as not this order's."""
    sim = stack.sandbox.paymentassist
    sim.faults.fail_next("begin", "late_response", delay=1.0)
    request = checkout_request(timing=NO_WATCH)
    start = asyncio.ensure_future(stack.checkouts.start(request))

    async def applications() -> list[object]:
        return list(sim.applications_for_order(request.order_id))

    await eventually(applications, lambda found: len(found) == 1, interval=0.02)
    (application,) = sim.applications_for_order(request.order_id)
    redirect = await sim.decide(application.token, "approve")  # the webhook leaves at once
    assert not start.done()  # `/begin` has not answered the checkout yet
    page = await browser_get(redirect)
    started = await start
    assert started.token == application.token
    assert page.status_code == 200 and "not valid" not in page.text
    view = await wait_for_status(stack.checkouts, request.order_id, "completed")
    kinds = sorted(hint.kind for hint in view.hints)
    # whichever of the two held hints the checkout applied first may complete it; the other
    # is then answered from the ended checkout, not recorded
    assert kinds in (["return", "webhook"], ["return"], ["webhook"])
    await sim.wait_idle()
    sent = [d for d in sim.webhook_log if d.payload["event_data"]["token"] == application.token]
    assert sent and sent[0].status_code == 200  # taken at the first attempt
