"""A flow's own notify_url never makes payflow call its own network: refused by rule at the
door, and after DNS resolution at every delivery, which connects to the address it vetted."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.merchant import REFUSED_TARGET, MerchantActivities, MerchantDelivery
from payflow.http_server import serve
from payflow.notify_targets import NotifyPolicy, UnsafeNotifyUrl
from state.notifications import Outbox

PRODUCTION = NotifyPolicy()
DEVELOPMENT = NotifyPolicy.of(private_hosts=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://merchant.example/hooks", "https"),
        ("https://127.0.0.1:8443/hooks", "public host"),
        ("https://10.1.2.3/hooks", "public host"),
        ("https://192.168.0.7/hooks", "public host"),
        ("https://169.254.169.254/latest/meta-data", "public host"),
        ("https://[::1]/hooks", "public host"),
        ("https://[::ffff:127.0.0.1]/hooks", "public host"),
        ("https://100.64.0.1/hooks", "public host"),
        ("https://localhost/hooks", "public host"),
        ("https://api.localhost/hooks", "public host"),
        ("https://user:pw@merchant.example/hooks", "credentials"),
    ],
)
def test_production_refuses_urls_into_our_own_network(url: str, why: str) -> None:
    with pytest.raises(UnsafeNotifyUrl, match=why):
        PRODUCTION.check(url)
    DEVELOPMENT.check(url.replace("user:pw@", "")) if "@" in url else DEVELOPMENT.check(url)


def test_an_allow_list_admits_only_its_hosts() -> None:
    policy = NotifyPolicy.of(private_hosts=False, allowed_hosts=["Hooks.Merchant.example"])
    policy.check("https://hooks.merchant.example/payflow")
    with pytest.raises(UnsafeNotifyUrl, match="ALLOWED_HOSTS"):
        policy.check("https://8.8.8.8/payflow")


async def test_a_name_is_judged_by_every_address_it_resolves_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {
        "inside.example": ["93.184.216.34", "10.0.0.5"],
        "merchant.example": ["93.184.216.34"],
    }

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(UnsafeNotifyUrl, match="public host") as refused:
        await PRODUCTION.target("https://inside.example/hooks")
    assert "10.0.0.5" not in str(refused.value)  # no network detail in what the merchant sees
    target = await PRODUCTION.target("https://merchant.example:8443/hooks?x=1")
    assert target.url == "https://93.184.216.34:8443/hooks?x=1"
    assert (target.host, target.host_header) == ("merchant.example", "merchant.example:8443")


def _event() -> Any:
    outbox = Outbox(url="http://127.0.0.1/hooks")
    entry = outbox.record(
        event_id="evt-1",
        at=datetime(2026, 12, 8, tzinfo=UTC),
        provider="passimpay",
        flow="invoice",
        order_id="o-1",
        status="paid",
        needs_attention=False,
    )
    assert entry is not None
    return entry


async def test_delivery_to_a_loopback_url_is_refused_in_production_and_never_sent() -> None:
    received: list[bytes] = []
    app = FastAPI()

    @app.post("/hooks")
    async def hooks(request: Request) -> dict[str, str]:
        received.append(await request.body())
        return {"ok": "yes"}

    async with serve(app) as server:
        url = f"{server.url}/hooks"
        strict = MerchantActivities(SecretStr("whsec-test"), policy=PRODUCTION)
        open_ = MerchantActivities(SecretStr("whsec-test"), policy=DEVELOPMENT)
        trusted = MerchantActivities(SecretStr("whsec-test"), policy=PRODUCTION, trusted_url=url)
        try:
            with pytest.raises(ApplicationError) as refused:
                await ActivityEnvironment().run(
                    strict.deliver, MerchantDelivery(url=url, event=_event())
                )
            assert refused.value.type == REFUSED_TARGET and refused.value.non_retryable
            assert "127.0.0.1" not in str(refused.value) and received == []
            await ActivityEnvironment().run(
                open_.deliver, MerchantDelivery(url=url, event=_event())
            )
            await ActivityEnvironment().run(
                trusted.deliver, MerchantDelivery(url=url, event=_event())
            )
            assert len(received) == 2  # development, and the operator's own PAYFLOW_NOTIFY_URL
        finally:
            for activities in (strict, open_, trusted):
                await activities.aclose()
