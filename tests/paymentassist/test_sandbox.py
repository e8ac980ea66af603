"""Simulator behaviour: customer page and return, capture, invoice, update, expiry, webhooks."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from providers.errors import Refused, Transient
from providers.paymentassist import AppStatus, PaymentAssistClient, signature
from providers.paymentassist.signing import verify_return, verify_webhook
from sandbox.paymentassist import PaymentAssistSandbox

from .conftest import SECRET, StartSandbox, WebhookReceiver, begin_request

SUCCESS_URL = "https://shop.example/return?cart=42&lang=en"
FAILURE_URL = "https://shop.example/sorry"


# --- continuation page and customer return ------------------------------------------------


async def test_customer_approves_on_the_page(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    request = begin_request(
        "page-approve", success_url=SUCCESS_URL, failure_url=FAILURE_URL, description="<b>Tyres</b>"
    )
    started = await pa_client.begin(request)

    async with httpx.AsyncClient() as browser:
        page = await browser.get(started.url)
        assert page.status_code == 200
        assert "page-approve" in page.text and "£500.00" in page.text
        assert "&lt;b&gt;Tyres&lt;/b&gt;" in page.text
        opened = await pa_client.status(started.token)
        assert opened.status is AppStatus.IN_PROGRESS
        assert opened.last_accessed_at is not None

        decided = await browser.post(started.url, data={"decision": "approve"})

    assert decided.status_code == 303
    location = decided.headers["location"]
    assert location.startswith(SUCCESS_URL + "&token=")
    query = dict(parse_qsl(urlsplit(location).query))
    assert (query["cart"], query["lang"]) == ("42", "en")
    assert (query["token"], query["status"]) == (started.token, "success")
    assert verify_return(query["token"], query["status"], query["signature"], SECRET)
    final = await pa_client.status(started.token)
    assert final.status is AppStatus.COMPLETED
    assert final.pa_ref is not None and re.fullmatch(r"PA\d{10}", final.pa_ref)
    assert pa_sandbox.application(started.token).history == ["pending", "in progress", "completed"]


async def test_customer_declines(pa_client: PaymentAssistClient) -> None:
    started = await pa_client.begin(begin_request("page-decline", failure_url=FAILURE_URL))

    async with httpx.AsyncClient() as browser:
        await browser.get(started.url)
        decided = await browser.post(started.url, data={"decision": "decline"})

    location = decided.headers["location"]
    assert location.startswith(FAILURE_URL + "?token=")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["status"] == "failed"
    assert verify_return(started.token, "failed", query["signature"], SECRET)
    assert not verify_return(started.token, "success", query["signature"], SECRET)
    assert (await pa_client.status(started.token)).status is AppStatus.FAILED


async def test_without_return_urls_the_page_shows_the_result(
    pa_client: PaymentAssistClient,
) -> None:
    started = await pa_client.begin(begin_request("page-plain"))

    async with httpx.AsyncClient(follow_redirects=True) as browser:
        result = await browser.post(
            started.url, data={"decision": "approve", "requires_invoice": "true"}
        )
        again = await browser.post(started.url, data={"decision": "decline"})

    assert result.status_code == 200
    assert "Application approved" in result.text
    assert again.status_code == 409
    status = await pa_client.status(started.token)
    assert (status.status, status.requires_invoice) == (AppStatus.COMPLETED, True)


async def test_unknown_page_is_404(pa_sandbox: PaymentAssistSandbox) -> None:
    async with httpx.AsyncClient() as browser:
        page = await browser.get(f"{pa_sandbox.base_url}/continue/nope")
    assert page.status_code == 404


async def test_decide_from_python_returns_the_signed_url(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    started = await pa_client.begin(begin_request("page-python", success_url=SUCCESS_URL))

    url = await pa_sandbox.decide(started.token, "approve")

    query = dict(parse_qsl(urlsplit(url).query))
    assert verify_return(started.token, "success", query["signature"], SECRET)
    with pytest.raises(ValueError, match="completed"):
        await pa_sandbox.decide(started.token, "decline")


# --- capture and deposit ------------------------------------------------------------------


async def test_pending_capture_then_capture(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    request = begin_request("cap-ok", auto_capture=False, webhook_url=receiver.url)
    token = (await pa_client.begin(request)).token
    await pa_sandbox.decide(token, "approve")

    assert (await pa_client.status(token)).status is AppStatus.PENDING_CAPTURE
    await pa_sandbox.wait_idle()
    assert receiver.received == []  # pending_capture is not terminal

    captured = await pa_client.capture(token)

    assert (captured.status, captured.deposit_captured) == (AppStatus.COMPLETED, True)
    await receiver.wait_for(1)
    assert receiver.received[0]["event_name"] == "application.completed"
    with pytest.raises(Refused) as refused:
        await pa_client.capture(token)
    assert refused.value.status_code == 400
    assert refused.value.data == {"token": token, "status": "completed"}


async def test_deposit_failure_keeps_pending_capture(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    token = (await pa_client.begin(begin_request("cap-deposit", auto_capture=False))).token
    await pa_sandbox.decide(token, "approve")
    pa_sandbox.faults.fail_deposit(token, reason="insufficient funds")

    failed = await pa_client.capture(token)

    assert failed.status is AppStatus.PENDING_CAPTURE
    assert (failed.deposit_captured, failed.deposit_reason) == (False, "insufficient funds")
    assert (await pa_client.capture(token)).status is AppStatus.COMPLETED


async def test_deposit_failure_for_the_next_capture_and_plans_without_deposit(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    request = begin_request("cap-nodeposit", auto_capture=False, plan_id=3, amount=60_000)
    token = (await pa_client.begin(request)).token
    await pa_sandbox.decide(token, "approve")
    pa_sandbox.faults.fail_deposit()

    assert (await pa_client.capture(token)).deposit_reason == "card declined"
    done = await pa_client.capture(token)
    assert (done.status, done.deposit_captured) == (AppStatus.COMPLETED, None)


# --- invoice ------------------------------------------------------------------------------


async def test_invoice_needs_a_completed_application(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    token = (await pa_client.begin(begin_request("inv"))).token

    with pytest.raises(Refused) as refused:
        await pa_client.invoice(token, "pdf", b"%PDF")
    assert refused.value.status_code == 404

    await pa_sandbox.decide(token, "approve", requires_invoice=True)
    assert (await pa_client.status(token)).has_invoice is False
    assert (await pa_client.invoice(token, "txt", b"Invoice 1")).upload_status == "success"
    assert (await pa_client.status(token)).has_invoice is True


# --- update -------------------------------------------------------------------------------


async def test_update_rules(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    token = (await pa_client.begin(begin_request("upd"))).token

    with pytest.raises(Refused, match="completed"):
        await pa_client.update(token, order_id="upd-renamed")
    with pytest.raises(Refused, match="lowered"):
        await pa_client.update(token, amount=60_000)
    with pytest.raises(Refused, match="limits"):
        await pa_client.update(token, amount=100)

    await pa_sandbox.decide(token, "approve")
    with pytest.raises(Refused, match="pending_capture"):
        await pa_client.update(token, expiry=60)
    renamed = await pa_client.update(token, order_id="upd-renamed")

    assert renamed.model_extra == {"order_id": "upd-renamed"}
    assert pa_sandbox.applications_for_order("upd-renamed")[0].token == token
    assert pa_sandbox.applications_for_order("upd") == []


async def test_update_expiry_zero_expires_at_once(
    pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    token = (await pa_client.begin(begin_request("upd-expire", webhook_url=receiver.url))).token

    await pa_client.update(token, expiry=0)

    assert (await pa_client.status(token)).status is AppStatus.EXPIRED
    [event] = await receiver.wait_for(1)
    assert (event["event_name"], event["event_data"]) == ("application.expired", {"token": token})


# --- expiry -------------------------------------------------------------------------------


async def test_short_expiry_expires_by_itself(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    request = begin_request("exp-timer", expiry=1, webhook_url=receiver.url)
    token = (await pa_client.begin(request)).token

    [event] = await receiver.wait_for(1, within=3)  # sent by the timer, nobody polled

    assert event["event_name"] == "application.expired"
    assert pa_sandbox.calls["status"] == 0
    assert (await pa_client.status(token)).status is AppStatus.EXPIRED


async def test_expiry_is_also_computed_on_read(
    start_sandbox: StartSandbox, receiver: WebhookReceiver
) -> None:
    now = [1_700_000_000.0]
    sandbox = await start_sandbox(clock=lambda: now[0])
    async with PaymentAssistClient(sandbox.base_url, "demo_key", SECRET) as client:
        token = (await client.begin(begin_request("exp-read", webhook_url=receiver.url))).token
        assert (await client.status(token)).status is AppStatus.PENDING

        now[0] += 86_400
        status = await client.status(token)

    assert status.status is AppStatus.EXPIRED
    assert status.expires_at is not None and status.expires_at.timestamp() == now[0]
    [event] = await receiver.wait_for(1)
    assert event["event_time"] == "2023-11-15 22:13:20 UTC"


# --- webhooks -----------------------------------------------------------------------------


async def _completed_with_webhook(
    sandbox: PaymentAssistSandbox,
    client: PaymentAssistClient,
    receiver: WebhookReceiver,
    order: str,
) -> str:
    token = (await client.begin(begin_request(order, webhook_url=receiver.url))).token
    await sandbox.decide(token, "approve")
    return token


async def test_webhook_is_signed(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    token = await _completed_with_webhook(pa_sandbox, pa_client, receiver, "wh-signed")

    [event] = await receiver.wait_for(1)

    assert event["event_data"] == {"token": token}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", event["event_time"])
    assert verify_webhook(event, SECRET)
    assert not verify_webhook({**event, "event_name": "application.failed"}, SECRET)


async def test_webhook_retried_until_200(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(2)
    await _completed_with_webhook(pa_sandbox, pa_client, receiver, "wh-retry")

    await pa_sandbox.wait_idle()

    assert receiver.answers == [500, 500, 200]
    assert [(entry.attempt, entry.delivered) for entry in pa_sandbox.webhook_log] == [
        (1, False),
        (2, False),
        (3, True),
    ]


async def test_webhook_dropped_after_three_attempts(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(10)
    await _completed_with_webhook(pa_sandbox, pa_client, receiver, "wh-give-up")

    await pa_sandbox.wait_idle()

    assert receiver.answers == [500, 500, 500]


async def test_drop_webhooks_fault(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    pa_sandbox.faults.drop_webhooks(times=1)
    await _completed_with_webhook(pa_sandbox, pa_client, receiver, "wh-drop-1")
    second = await _completed_with_webhook(pa_sandbox, pa_client, receiver, "wh-drop-2")

    await pa_sandbox.wait_idle()

    assert [event["event_data"]["token"] for event in receiver.received] == [second]
    assert pa_sandbox.webhook_log[0].error == "dropped by fault"


async def test_duplicate_webhooks_fault(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    pa_sandbox.faults.duplicate_webhooks()
    await _completed_with_webhook(pa_sandbox, pa_client, receiver, "wh-dup")

    await pa_sandbox.wait_idle()

    assert len(receiver.received) == 2
    assert receiver.received[0] == receiver.received[1]


async def test_delay_webhooks_fault(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, receiver: WebhookReceiver
) -> None:
    pa_sandbox.faults.delay_webhooks(0.3)
    await _completed_with_webhook(pa_sandbox, pa_client, receiver, "wh-delay")

    await asyncio.sleep(0.1)
    assert receiver.received == []
    await receiver.wait_for(1, within=2)


# --- limits and control routes ------------------------------------------------------------


async def test_plan_limits_and_unknown_plan(pa_client: PaymentAssistClient) -> None:
    with pytest.raises(Refused, match="limits"):
        await pa_client.begin(begin_request("lim-high", amount=600_000))
    with pytest.raises(Refused, match="plan_id"):
        await pa_client.begin(begin_request("lim-plan", plan_id=99))
    with pytest.raises(Refused, match="plan_length"):
        await pa_client.plan(60_000, plan_id=1, plan_length=12)
    assert (await pa_client.begin(begin_request("lim-plan3", plan_id=3, amount=900_000))).token


async def test_wrong_method_and_missing_parameters(pa_sandbox: PaymentAssistSandbox) -> None:
    async with httpx.AsyncClient(base_url=pa_sandbox.base_url) as http:
        wrong_method = await http.get("/begin")
        unsigned = await http.post("/begin", data={"api_key": "demo_key"})

    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == "error"
    assert unsigned.status_code == 401


async def test_missing_parameter_is_400(pa_sandbox: PaymentAssistSandbox) -> None:
    params = {"f_name": "Ada", "s_name": "Lovelace", "addr1": "1 Row"}
    form = {**params, "api_key": "demo_key", "signature": signature(params, SECRET)}
    async with httpx.AsyncClient(base_url=pa_sandbox.base_url) as http:
        response = await http.post("/preapproval", data=form)

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "msg": "missing required parameter(s): postcode",
        "data": ["postcode"],
    }


async def test_control_routes(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    async with httpx.AsyncClient(base_url=f"{pa_sandbox.base_url}/_sandbox") as control:
        armed = await control.post("/faults/fail-next", json={"endpoint": "status", "mode": "503"})
        assert armed.json()["endpoints"]["status"]["mode"] == "503"
        assert (
            await control.post("/faults/fail-next", json={"endpoint": "x", "mode": "500"})
        ).status_code == 400
        with pytest.raises(Transient):
            await pa_client.status("whatever")

        token = (await pa_client.begin(begin_request("ctl", success_url=SUCCESS_URL))).token
        listed = (await control.get("/applications", params={"order_id": "ctl"})).json()
        decided = await control.post(f"/applications/{token}/decide", json={"outcome": "approve"})
        shown = (await control.get(f"/applications/{token}")).json()
        calls = (await control.get("/calls")).json()
        await control.post("/faults/drop-webhooks", json={"times": None})
        cleared = (await control.delete("/faults")).json()

    assert [found["token"] for found in listed] == [token]
    assert decided.json()["redirect_url"].startswith(SUCCESS_URL + "&token=")
    assert shown["status"] == "completed" and shown["params"]["success_url"] == SUCCESS_URL
    assert calls == {"status": 1, "begin": 1}
    assert cleared["drop_webhooks"] is None and cleared["endpoints"] == {}


async def test_lender_changes_the_amount_and_refusing_or_late_answers(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    token = (await pa_client.begin(begin_request("ctl-amount", amount=50_000))).token
    async with httpx.AsyncClient(base_url=f"{pa_sandbox.base_url}/_sandbox") as control:
        lowered = await control.post(f"/applications/{token}/amount", json={"amount": 30_000})
        assert lowered.status_code == 200 and lowered.json()["amount"] == 30_000
        assert (
            await control.post(f"/applications/{token}/amount", json={"amount": 0})
        ).status_code == 422
        assert (
            await control.post("/applications/nope/amount", json={"amount": 1})
        ).status_code == 404
        await control.post(
            "/faults/fail-next", json={"endpoint": "status", "mode": 403, "times": 2}
        )
    for _ in range(2):  # a WAF in front of the lender: refused without being looked at
        with pytest.raises(Refused, match="403"):
            await pa_client.status(token)
    assert (await pa_client.status(token)).amount == 30_000

    pa_sandbox.faults.fail_next("begin", "late_response", delay=0.3)
    started = asyncio.get_running_loop().time()
    late = await pa_client.begin(begin_request("ctl-late"))
    assert asyncio.get_running_loop().time() - started >= 0.3
    assert pa_sandbox.application(late.token).order_id == "ctl-late"
