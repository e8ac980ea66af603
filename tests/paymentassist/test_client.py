"""The typed client against the real sandbox: every endpoint, and how each failure is classified."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse

from payflow.http_server import free_port, serve
from providers.errors import ConfigurationError, InvalidInput, ProviderError, Refused, Transient
from providers.paymentassist import AppStatus, PaymentAssistClient, signature
from providers.paymentassist.errors import NotSent
from providers.paymentassist.models import PreapprovalRequest
from sandbox.paymentassist import PaymentAssistSandbox, front_door
from tests.flows.helpers import eventually

from .conftest import API_KEY, SECRET, begin_request

LIVE = "https://api.v1.payment-assist.co.uk"
CUSTOMER = {"f_name": "Ada", "s_name": "Lovelace", "addr1": "1 Analytical Row", "postcode": "AB1"}


def _async(read: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def probe() -> Any:
        return read()

    return probe


def assert_no_secret(error: BaseException, secret: str = SECRET) -> None:
    for text in (str(error), repr(error), repr(error.args)):
        assert secret not in text
        assert "signature=" not in text


# --- happy paths ---------------------------------------------------------------------------


async def test_account_lists_plans(pa_client: PaymentAssistClient) -> None:
    account = await pa_client.account()

    assert account.display_name == "Sandbox Motors"
    assert [plan.plan_id for plan in account.plans] == [1, 2, 3]
    assert account.plans[2].apr == Decimal("19.9")
    assert account.plans[0].min_amount == 5_000


async def test_plan_quote_adds_up(pa_client: PaymentAssistClient) -> None:
    quote = await pa_client.plan(50_001)
    assert quote.plan == "4-Payment"
    assert quote.interest == 0
    assert len(quote.schedule) == 4
    assert sum(entry.amount for entry in quote.schedule) == quote.repayable == 50_001

    interest = await pa_client.plan(100_000, plan_id=3, plan_length=24)
    assert interest.interest > 0
    assert len(interest.schedule) == 24
    assert sum(entry.amount for entry in interest.schedule) == interest.repayable


async def test_preapproval(pa_client: PaymentAssistClient) -> None:
    assert await pa_client.preapproval(PreapprovalRequest(**CUSTOMER)) is True
    assert await pa_client.preapproval({**CUSTOMER, "s_name": "Decline"}) is False


async def test_begin_and_status(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    started = await pa_client.begin(begin_request("client-begin", qr_code=True))

    assert len(started.token) == 36
    assert started.url == f"{pa_sandbox.base_url}/continue/{started.token}"
    assert started.qr_code
    status = await pa_client.status(started.token)
    assert status.status is AppStatus.PENDING
    assert not status.status.is_terminal
    assert status.amount == 50_000
    assert status.pa_ref is None
    assert status.last_accessed_at is None
    assert status.expires_at is not None
    remaining = status.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < remaining <= dt.timedelta(hours=24)


async def test_begin_accepts_a_mapping(pa_client: PaymentAssistClient) -> None:
    started = await pa_client.begin(begin_request("client-mapping").model_dump(exclude_none=True))
    assert len(started.token) == 36


async def test_update_returns_changed_fields(pa_client: PaymentAssistClient) -> None:
    token = (await pa_client.begin(begin_request("client-update"))).token

    result = await pa_client.update(token, expiry=600, amount=40_000)

    assert result.token == token
    assert result.model_extra == {"expiry": 600, "amount": 40_000}
    assert (await pa_client.status(token)).amount == 40_000


async def test_capture_and_invoice(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    token = (await pa_client.begin(begin_request("client-capture", auto_capture=False))).token
    await pa_sandbox.decide(token, "approve", requires_invoice=True)

    captured = await pa_client.capture(token)
    invoiced = await pa_client.invoice(token, "pdf", b"%PDF-1.4 invoice")

    assert captured.status is AppStatus.COMPLETED
    assert captured.deposit_captured is True
    assert invoiced.upload_status == "success"
    status = await pa_client.status(token)
    assert (status.requires_invoice, status.has_invoice) == (True, True)
    assert pa_sandbox.application(token).invoice == ("pdf", b"%PDF-1.4 invoice")


# --- our own validation: InvalidInput, nothing sent ---------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 100.0}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 0}, "amount"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 256}, "order_id"),
        ({"description": "d" * 256}, "description"),
        ({"email": "not-an-email"}, "email"),
        ({"expiry": -1}, "expiry"),
        ({"dob": "1990-13-40"}, "dob"),
        ({"auto_capture": "yes"}, "auto_capture"),
        ({"unexpected": "x"}, "unexpected"),
    ],
)
async def test_invalid_begin_is_refused_before_sending(
    pa_sandbox: PaymentAssistSandbox,
    pa_client: PaymentAssistClient,
    change: dict[str, Any],
    field: str,
) -> None:
    request = {**begin_request("client-invalid").model_dump(exclude_none=True), **change}

    with pytest.raises(InvalidInput) as invalid:
        await pa_client.begin(request)

    assert field in str(invalid.value)
    assert pa_sandbox.calls["begin"] == 0


async def test_other_invalid_inputs(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    with pytest.raises(InvalidInput, match="amount"):
        await pa_client.plan(-5)
    with pytest.raises(InvalidInput, match="order_id, expiry or amount"):
        await pa_client.update("token")
    with pytest.raises(InvalidInput, match="token"):
        await pa_client.status("")
    with pytest.raises(InvalidInput, match="filetype"):
        await pa_client.invoice("token", "exe", b"x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="document"):
        await pa_client.invoice("token", "pdf", b"")
    with pytest.raises(InvalidInput, match="postcode"):
        await pa_client.preapproval({**CUSTOMER, "postcode": ""})
    assert sum(pa_sandbox.calls.values()) == 0


async def test_invalid_input_message_omits_values(pa_client: PaymentAssistClient) -> None:
    request = {**begin_request("client-pii").model_dump(), "email": "private@person"}
    with pytest.raises(InvalidInput) as invalid:
        await pa_client.begin(request)
    assert "email" in str(invalid.value)
    assert "private@person" not in str(invalid.value)


# --- provider said no: Refused ------------------------------------------------------------


async def test_amount_outside_plan_is_refused(pa_client: PaymentAssistClient) -> None:
    with pytest.raises(Refused) as refused:
        await pa_client.begin(begin_request("client-small", amount=1_000))
    assert refused.value.status_code == 400
    assert refused.value.data == {"min_amount": 5_000, "max_amount": 500_000}


async def test_unknown_token_is_refused_with_404(pa_client: PaymentAssistClient) -> None:
    with pytest.raises(Refused) as refused:
        await pa_client.status("00000000-0000-0000-0000-000000000000")
    assert refused.value.status_code == 404


async def test_repeated_order_id_is_refused_and_creates_nothing(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    await pa_client.begin(begin_request("client-twice"))

    with pytest.raises(Refused) as refused:
        await pa_client.begin(begin_request("client-twice"))

    assert refused.value.status_code == 400
    assert "order_id already exists" in refused.value.message
    assert len(pa_sandbox.applications_for_order("client-twice")) == 1
    assert pa_sandbox.begins_by_order["client-twice"] == 2  # refused duplicates are counted


# --- outcome unknown: Transient -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["500", "503"])
async def test_server_errors_are_transient(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, mode: str
) -> None:
    pa_sandbox.faults.fail_next("begin", mode)  # type: ignore[arg-type]

    with pytest.raises(Transient) as transient:
        await pa_client.begin(begin_request("client-5xx"))

    assert transient.value.status_code == int(mode)
    assert pa_sandbox.applications_for_order("client-5xx") == []
    assert (await pa_client.begin(begin_request("client-5xx"))).token  # the fault was used up


async def test_timeout_is_transient(pa_sandbox: PaymentAssistSandbox) -> None:
    pa_sandbox.faults.fail_next("status", "timeout", delay=1.0)

    async with PaymentAssistClient(pa_sandbox.base_url, API_KEY, SECRET, timeout=0.3) as client:
        with pytest.raises(Transient, match="timed out") as transient:
            await client.status("any-token")

    assert pa_sandbox.calls["status"] == 1
    assert_no_secret(transient.value)


async def test_lost_begin_response_is_transient_but_the_application_exists(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    pa_sandbox.faults.fail_next("begin", "lose_response")

    with pytest.raises(Transient) as transient:
        await pa_client.begin(begin_request("client-lost"))

    assert transient.value.status_code == 502
    assert len(pa_sandbox.applications_for_order("client-lost")) == 1
    with pytest.raises(Refused, match="order_id already exists"):
        await pa_client.begin(begin_request("client-lost"))
    assert len(pa_sandbox.applications_for_order("client-lost")) == 1


async def test_connection_refused_is_not_sent() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with PaymentAssistClient(url, API_KEY, SECRET, timeout=1.0) as client:
        with pytest.raises(NotSent, match="not sent") as not_sent:
            await client.account()
    assert isinstance(not_sent.value, Transient)  # callers that only retry still retry it
    assert_no_secret(not_sent.value)


async def test_shut_front_door_is_not_sent_and_nothing_arrives(
    pa_sandbox: PaymentAssistSandbox,
) -> None:
    async with (
        front_door(pa_sandbox.base_url) as door,
        PaymentAssistClient(door.url, API_KEY, SECRET, timeout=2.0) as client,
    ):
        await door.shut()
        with pytest.raises(NotSent):
            await client.begin(begin_request("client-door"))
        assert pa_sandbox.calls["begin"] == 0
        assert pa_sandbox.applications_for_order("client-door") == []

        await door.open()
        assert (await client.begin(begin_request("client-door"))).token
        assert pa_sandbox.calls["begin"] == 1


@pytest.mark.parametrize("mode", ["500", "503", "lose_response", "timeout"])
async def test_failures_after_the_request_left_are_maybe_sent(
    pa_sandbox: PaymentAssistSandbox, mode: str
) -> None:
    pa_sandbox.faults.fail_next("begin", mode, delay=1.0)  # type: ignore[arg-type]
    async with PaymentAssistClient(pa_sandbox.base_url, API_KEY, SECRET, timeout=0.5) as client:
        with pytest.raises(Transient) as failure:
            await client.begin(begin_request(f"client-maybe-{mode}"))
    assert not isinstance(failure.value, NotSent)
    assert pa_sandbox.calls["begin"] == 1


async def test_jammed_pool_is_replaced(pa_sandbox: PaymentAssistSandbox) -> None:
    pa_sandbox.faults.fail_next("status", "timeout", delay=3.0)
    async with PaymentAssistClient(
        pa_sandbox.base_url, API_KEY, SECRET, timeout=5.0, setup_timeout=0.3, max_connections=1
    ) as client:
        hog = asyncio.ensure_future(client.status("any-token"))  # holds the only connection
        await eventually(_async(lambda: pa_sandbox.calls["status"]), lambda n: n == 1)
        with pytest.raises(NotSent, match="PoolTimeout"):
            await client.account()
        assert client.pools_replaced == 1

        assert (await client.account()).display_name == "Sandbox Motors"  # the fresh pool
        assert not hog.done()
        with pytest.raises(Transient):
            await hog
    assert pa_sandbox.calls["account"] == 1  # the jammed call never reached the sandbox


async def test_answers_that_are_not_the_api() -> None:
    impostor = FastAPI()

    @impostor.get("/account")
    async def account() -> PlainTextResponse:
        return PlainTextResponse("<html>maintenance</html>")

    @impostor.post("/plan")
    async def plan() -> RedirectResponse:
        return RedirectResponse("https://elsewhere.example/plan")

    async with (
        serve(impostor) as server,
        PaymentAssistClient(server.url, API_KEY, SECRET) as client,
    ):
        with pytest.raises(Transient, match="non-JSON|without a JSON body"):
            await client.account()
        with pytest.raises(Refused) as refused:
            await client.status("token")  # not served here: a plain 404
        assert refused.value.status_code == 404
        with pytest.raises(Refused, match="redirect"):
            await client.plan(10_000)


# --- configuration and secrecy ------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [LIVE, f"{LIVE}/", f"{LIVE}/v1/", "https://API.V1.PAYMENT-ASSIST.CO.UK"]
)
def test_demo_secret_with_live_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        PaymentAssistClient(url, "key", "demo_very_secret")
    assert_no_secret(refused.value, "demo_very_secret")


@pytest.mark.parametrize(
    "url", ["https://api.demo.payassi.st/", "http://127.0.0.1:8300/paymentassist"]
)
def test_prod_secret_outside_live_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        PaymentAssistClient(url, "key", "prod_very_secret")
    assert_no_secret(refused.value, "prod_very_secret")


async def test_matching_environments_are_accepted() -> None:
    async with PaymentAssistClient(LIVE, "key", "prod_very_secret"):
        pass
    async with PaymentAssistClient("https://api.demo.payassi.st/", "key", "demo_very_secret"):
        pass


async def test_no_error_reveals_the_secret(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    pa_sandbox.faults.fail_next("account", "lose_response")
    provocations: list[Callable[[], Awaitable[object]]] = [
        lambda: pa_client.begin(begin_request("client-secret", amount=1)),
        lambda: pa_client.status("missing"),
        lambda: pa_client.capture("missing"),
        lambda: pa_client.begin({"amount": "x"}),
        pa_client.account,
    ]
    for provoke in provocations:
        with pytest.raises(ProviderError) as caught:
            await provoke()
        assert_no_secret(caught.value)


async def test_request_logs_hide_the_signature(
    pa_client: PaymentAssistClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = (await pa_client.begin(begin_request("client-logs"))).token
    with caplog.at_level(logging.INFO, logger="httpx"):
        await pa_client.status(token)

    assert "/status" in caplog.text
    assert signature({"token": token}, SECRET) not in caplog.text
    assert "signature=[redacted]" in caplog.text


async def test_api_url_with_a_path(pa_sandbox: PaymentAssistSandbox) -> None:
    """Endpoint paths join onto an API URL with a path; continuation URLs follow the mount."""
    mounted = PaymentAssistSandbox()
    outer = FastAPI()
    outer.mount("/paymentassist", mounted.app)
    async with serve(outer) as server:
        api_url = f"{server.url}/paymentassist"
        async with PaymentAssistClient(api_url, API_KEY, SECRET) as client:
            started = await client.begin(begin_request("client-mounted"))
    await mounted.aclose()
    assert started.url == f"{server.url}/paymentassist/continue/{started.token}"
