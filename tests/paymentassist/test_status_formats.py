"""`/status` formats the provider leaves open: the simulator answers each way, we read them all."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from providers.errors import Transient
from providers.paymentassist import AppStatus, PaymentAssistClient, signature
from providers.paymentassist.lenient import (
    lenient_bool,
    lenient_datetime,
    lenient_pence,
    lenient_text,
)
from providers.paymentassist.models import ApplicationStatus
from sandbox.paymentassist import PaymentAssistSandbox, StatusVariants

from .conftest import API_KEY, SECRET, begin_request

SEPT_10 = dt.datetime(2020, 9, 10, 14, 31, 5, tzinfo=dt.UTC)


async def raw_status(sandbox: PaymentAssistSandbox, token: str) -> dict[str, Any]:
    """`/status` exactly as the simulator writes it on the wire."""
    params = {"token": token}
    query = {**params, "api_key": API_KEY, "signature": signature(params, SECRET)}
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=5) as http:
        body = (await http.get("/status", params=query)).json()
    return dict(body["data"])


async def completed(sandbox: PaymentAssistSandbox, client: PaymentAssistClient, order: str) -> str:
    started = await client.begin(begin_request(order))
    await sandbox.decide(started.token, "approve")
    return started.token


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-09-10T14:31:05+00:00", SEPT_10),
        ("2020-09-10T14:31:05Z", SEPT_10),
        ("2020-09-10 14:31:05 UTC", SEPT_10),
        ("2020-09-10 14:31:05 GMT", SEPT_10),
        ("2020-09-10 14:31:05", SEPT_10),
        (1599748265, SEPT_10),
        ("", None),
        (None, None),
        ("next tuesday", None),
        ("2020-09-10 14:31:05 BST", None),  # a zone we cannot place is not guessed
    ],
)
def test_dates_in_every_documented_shape(text: Any, expected: dt.datetime | None) -> None:
    assert lenient_datetime(text) == expected


def test_numbers_references_and_flags() -> None:
    assert [lenient_pence(v) for v in (49_900, "49900", 49_900.0, " 12 ")] == [49_900] * 3 + [12]
    assert [lenient_pence(v) for v in ("499.99", "abc", None, True)] == [None] * 4
    assert [lenient_text(v) for v in ("PA123", 123, 123.0, "", None)] == [
        "PA123", "123", "123", None, None,
    ]  # fmt: skip
    assert [lenient_bool(v) for v in (True, 1, "1", "true", "TRUE")] == [True] * 5
    assert [lenient_bool(v) for v in (False, 0, "0", "false", "")] == [False] * 5
    assert [lenient_bool(v) for v in ("maybe", 2, None)] == [None] * 3


def test_status_needs_only_token_and_status() -> None:
    parsed = ApplicationStatus.model_validate(
        {"token": "t", "status": "In_Progress", "amount": "x", "expires_at": "?", "new": {}}
    )
    assert parsed.status is AppStatus.IN_PROGRESS and parsed.amount is None
    assert parsed.expires_at is None and parsed.requires_invoice is False
    for broken in ({"status": "pending"}, {"token": "t"}, {"token": "t", "status": "paused"}):
        with pytest.raises(ValueError):
            ApplicationStatus.model_validate(broken)


async def test_unreadable_status_fails_loudly(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    started = await pa_client.begin(begin_request("formats-broken"))
    pa_sandbox.application(started.token).status = "paused"  # type: ignore[assignment]
    with pytest.raises(Transient, match="unexpected response data"):
        await pa_client.status(started.token)


@pytest.mark.parametrize("date_format", ["iso", "php"])
async def test_date_format_switch(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, date_format: str
) -> None:
    pa_sandbox.variants = StatusVariants(date_format=date_format)  # type: ignore[arg-type]
    started = await pa_client.begin(begin_request(f"formats-date-{date_format}"))
    application = pa_sandbox.application(started.token)

    wire = await raw_status(pa_sandbox, started.token)
    assert wire["expires_at"].endswith(" UTC") is (date_format == "php")
    assert wire["expires_at"][10] == ("T" if date_format == "iso" else " ")
    status = await pa_client.status(started.token)
    assert status.expires_at == dt.datetime.fromtimestamp(int(application.expires_at), dt.UTC)


@pytest.mark.parametrize("as_number", [False, True])
async def test_pa_ref_switch(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, as_number: bool
) -> None:
    pa_sandbox.variants = StatusVariants(pa_ref_as_number=as_number)
    token = await completed(pa_sandbox, pa_client, f"formats-ref-{as_number}")

    wire = await raw_status(pa_sandbox, token)
    assert isinstance(wire["pa_ref"], int) is as_number
    status = await pa_client.status(token)
    assert status.pa_ref == str(wire["pa_ref"]) and status.status is AppStatus.COMPLETED


@pytest.mark.parametrize("loose", [False, True])
async def test_extra_fields_and_loose_types_switch(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient, loose: bool
) -> None:
    pa_sandbox.variants = StatusVariants(
        extra_fields=loose, numeric_strings=loose, underscore_in_progress=loose
    )
    started = await pa_client.begin(begin_request(f"formats-loose-{loose}"))
    pa_sandbox.open_page(pa_sandbox.application(started.token))

    wire = await raw_status(pa_sandbox, started.token)
    assert ("dealer" in wire) is loose
    assert wire["status"] == ("in_progress" if loose else "in progress")
    assert wire["amount"] == ("50000" if loose else 50_000)
    assert wire["requires_invoice"] == (0 if loose else False)
    status = await pa_client.status(started.token)
    assert status.status is AppStatus.IN_PROGRESS
    assert status.amount == 50_000 and status.requires_invoice is False
