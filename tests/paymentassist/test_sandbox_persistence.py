"""A sandbox on the same state file carries on: applications, accounts, owed webhooks, expiry."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from providers.paymentassist import AppStatus, PaymentAssistClient
from providers.paymentassist.signing import verify_webhook
from tests.flows.helpers import eventually

from .conftest import API_KEY, SECRET, StartSandbox, WebhookReceiver, begin_request

OTHER_KEY, OTHER_SECRET = "other_key", "other_sandbox_secret"


async def test_applications_and_accounts_survive_a_restart(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    state = tmp_path / "paymentassist.db"
    credentials = {API_KEY: SECRET, OTHER_KEY: OTHER_SECRET}
    first = await start_sandbox(credentials=credentials, state_file=state)
    async with PaymentAssistClient(first.base_url, API_KEY, SECRET) as client:
        capture = (await client.begin(begin_request("p-cap", auto_capture=False))).token
        await first.decide(capture, "approve", requires_invoice=True)
        done = (await client.begin(begin_request("p-done"))).token
        await first.decide(done, "approve", requires_invoice=True)
        await client.invoice(done, "pdf", b"%PDF\xff\x00binary")
        await client.update(done, order_id="p-done-renamed")
        open_ = (await client.begin(begin_request("p-open"))).token
        await client.update(open_, amount=40_000)
        async with httpx.AsyncClient() as browser:
            await browser.get(f"{first.base_url}/continue/{open_}")
    before = {token: first.application(token).inspect() for token in (capture, done, open_)}
    document = first.application(done).invoice
    await first.aclose()

    second = await start_sandbox(state_file=state)  # default credentials only

    assert {t: second.application(t).inspect() for t in (capture, done, open_)} == before
    assert second.application(done).invoice == document == ("pdf", b"%PDF\xff\x00binary")
    assert before[open_]["status"] == "in progress" and before[open_]["amount"] == 40_000
    assert second.store.order_taken(API_KEY, "p-done-renamed")
    assert not second.store.order_taken(API_KEY, "p-done")
    assert second.credentials[OTHER_KEY] == OTHER_SECRET  # its applications still sign
    async with PaymentAssistClient(second.base_url, API_KEY, SECRET) as client:
        assert (await client.capture(capture)).status is AppStatus.COMPLETED
    assert second.application(capture).history[-1] == "completed"


async def test_an_owed_webhook_is_sent_after_a_restart_and_never_twice(
    start_sandbox: StartSandbox, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "paymentassist.db"
    first = await start_sandbox(state_file=state, webhook_retry_delay=30)
    async with PaymentAssistClient(first.base_url, API_KEY, SECRET) as client:
        request = begin_request("p-hook", webhook_url=receiver.url)
        token = (await client.begin(request)).token
    receiver.fail_next(1)
    await first.decide(token, "approve")

    async def attempts() -> int:
        return len(first.webhook_log)

    await eventually(attempts, lambda count: count == 1)  # attempt 1 failed, 2 is 30 s away
    await first.aclose()

    later = time.time() + 60  # the retry is due by now
    second = await start_sandbox(state_file=state, clock=lambda: later)
    second.resume()
    await second.wait_idle()

    assert receiver.answers == [500, 200]
    assert [(d.attempt, d.delivered) for d in second.webhook_log] == [(2, True)]
    assert receiver.received[1] == receiver.received[0]
    assert verify_webhook(receiver.received[1], SECRET)
    await second.aclose()

    third = await start_sandbox(state_file=state)
    third.resume()
    await third.wait_idle()
    assert third.webhook_log == [] and len(receiver.received) == 2


async def test_an_application_that_expired_while_stopped_expires_on_resume(
    start_sandbox: StartSandbox, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "paymentassist.db"
    now = 1_700_000_000.0
    first = await start_sandbox(state_file=state, clock=lambda: now)
    async with PaymentAssistClient(first.base_url, API_KEY, SECRET) as client:
        request = begin_request("p-expire", webhook_url=receiver.url, expiry=60)
        token = (await client.begin(request)).token
    await first.aclose()

    second = await start_sandbox(state_file=state, clock=lambda: now + 120)
    second.resume()

    await second.wait_idle()
    [event] = await receiver.wait_for(1)
    assert (event["event_name"], event["event_data"]) == ("application.expired", {"token": token})
    assert second.application(token).status == "expired"
