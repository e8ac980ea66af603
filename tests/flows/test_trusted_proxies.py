"""The callback allow-list reads X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from decimal import Decimal

import httpx
import pytest

from gateway.client_address import client_address, parse_networks
from payflow.settings import PassimpaySettings, PayflowSettings
from providers.passimpay.signing import encode_body, signature
from state.passimpay_models import AddressRequest
from tests.conftest import Stack
from tests.flows.helpers import another_gateway, eventually, new_order_id

PROXIES = parse_networks(["127.0.0.1", "10.0.0.0/8"])
PLATFORM, KEY, USDT_TRC20 = 50, "sandbox-passimpay-key", 70


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.9", ["203.0.113.7"], "198.51.100.9"),  # not a proxy: its header is ignored
        ("127.0.0.1", [], "127.0.0.1"),  # a proxy that forwarded nothing
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7, 198.51.100.9"], "198.51.100.9"),  # spoofed left entry
        ("127.0.0.1", ["198.51.100.9, 203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7, 10.1.2.3"], "203.0.113.7"),  # through two of our proxies
        ("127.0.0.1", ["203.0.113.7", "10.1.2.3"], "203.0.113.7"),  # header repeated
        ("127.0.0.1", ["203.0.113.7:4711"], "203.0.113.7"),
        ("127.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("::ffff:127.0.0.1", ["203.0.113.7"], "203.0.113.7"),  # IPv4-mapped peer
        ("127.0.0.1", ["10.9.9.9"], "10.9.9.9"),  # every hop ours: the left-most
        ("127.0.0.1", ["not-an-ip"], None),
    ],
)
def test_client_address(peer: str, forwarded: list[str], client: str | None) -> None:
    expected = ipaddress.ip_address(client) if client else None
    assert client_address(peer, forwarded, PROXIES) == expected


def test_no_trusted_proxy_means_the_peer() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7"], ()) == ipaddress.ip_address("127.0.0.1")


def test_settings_refuse_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYFLOW_TRUSTED_PROXIES", '["10.0.0.0/8", "::1"]')
    assert PayflowSettings().trusted_proxies == ["10.0.0.0/8", "::1"]
    monkeypatch.setenv("PAYFLOW_TRUSTED_PROXIES", '["proxy.internal"]')
    with pytest.raises(ValueError, match="proxy.internal"):
        PayflowSettings()
    monkeypatch.setenv("PASSIMPAY_CALLBACK_ALLOWED_IPS", '["203.0.113.0/24"]')
    assert PassimpaySettings().callback_allowed_ips == {"203.0.113.0/24"}


async def test_allow_list_behind_a_proxy(stack: Stack) -> None:
    """From loopback (the test's 'proxy'): the header counts only once loopback is trusted."""
    order_id = new_order_id("adr")
    await stack.crypto.open_address(AddressRequest(order_id=order_id, payment_id=USDT_TRC20))
    payload = {
        "platformId": PLATFORM,
        "paymentId": USDT_TRC20,
        "orderId": order_id,
        "amount": "10",
        "txhash": f"0x{order_id}",
        "confirmations": 1,
    }
    body = encode_body(payload, escape_slashes=True)
    headers = {"content-type": "application/json", "x-signature": signature(PLATFORM, body, KEY)}
    allowed = {"203.0.113.7"}

    async def post(url: str, forwarded: str | None) -> int:
        extra = {"x-forwarded-for": forwarded} if forwarded else {}
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            reply = await http.post("/webhooks/passimpay", content=body, headers=headers | extra)
        return reply.status_code

    async with another_gateway(stack, callback_allowed_ips=allowed) as untrusting:
        assert await post(untrusting, "203.0.113.7") == 403  # anyone could write the header
    async with another_gateway(
        stack, callback_allowed_ips=allowed, trusted_proxies=["127.0.0.0/8"]
    ) as behind_proxy:
        assert await post(behind_proxy, None) == 403  # the proxy's own address is not allowed
        assert await post(behind_proxy, "203.0.113.7, 198.51.100.9") == 403  # spoofed entry
        assert (await stack.crypto.get_address(order_id)).deposits == []
        assert await post(behind_proxy, "198.51.100.9, 203.0.113.7") == 200
    view = await eventually(lambda: stack.crypto.get_address(order_id), lambda v: v.deposits)
    assert view.deposits[0].amount == Decimal("10")
