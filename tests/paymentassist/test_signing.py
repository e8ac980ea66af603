"""Request signatures: the published vector, the canonical string, and awkward values end to end."""

from __future__ import annotations

import httpx
import pytest

from providers.errors import Refused
from providers.paymentassist import PaymentAssistClient, signature
from providers.paymentassist.signing import canonical_string
from sandbox.paymentassist import PaymentAssistSandbox

from .conftest import API_KEY, SECRET, begin_request

AWKWARD = {
    "description": "Café £5 ✓ a=b&c=d?e f",
    "reg_no": "YWJjZA==",
    "success_url": "https://shop.example/return?cart=42&lang=en&sig=a==",
    "town": "  spaced  out  ",
}


def test_published_check_value() -> None:
    expected = "7eba7f616af343d16ff09e242362345e6cfb09d24b78a73c81d267f049fc47c2"
    assert signature({"test": "test", "test2": "test2"}, "secret") == expected


def test_canonical_string_sorts_uppercases_and_ends_every_pair_with_ampersand() -> None:
    assert canonical_string({"b": "2", "a": "1"}) == "A=1&B=2&"


def test_empty_values_and_credentials_are_not_signed() -> None:
    params = {"a": "1", "empty": "", "api_key": "k", "signature": "s"}
    assert canonical_string(params) == "A=1&"
    assert signature(params, "secret") == signature({"a": "1"}, "secret")


def test_booleans_are_written_true_false() -> None:
    assert canonical_string({"auto_capture": False, "qr_code": True}) == (
        "AUTO_CAPTURE=false&QR_CODE=true&"
    )


def test_values_are_signed_raw_never_encoded_or_split() -> None:
    assert canonical_string({"reg_no": "YWJjZA==", "x": "a=b&c"}) == "REG_NO=YWJjZA==&X=a=b&c&"


async def test_awkward_values_reach_the_sandbox_intact(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    started = await pa_client.begin(begin_request("sign-awkward", **AWKWARD))

    stored = pa_sandbox.application(started.token)
    for name, value in AWKWARD.items():
        assert stored.params[name] == value


async def test_awkward_query_values_verify_on_get(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    token = (await pa_client.begin(begin_request("sign-get"))).token
    params = {"token": token, "note": AWKWARD["description"]}
    query = {**params, "api_key": API_KEY, "signature": signature(params, SECRET)}

    async with httpx.AsyncClient(base_url=pa_sandbox.base_url) as http:
        response = await http.get("/status", params=query)

    assert response.status_code == 200
    assert response.json()["data"]["token"] == token


async def test_wrong_secret_is_refused_with_401(pa_sandbox: PaymentAssistSandbox) -> None:
    async with PaymentAssistClient(pa_sandbox.base_url, API_KEY, "demo_wrong") as client:
        with pytest.raises(Refused) as refused:
            await client.account()
    assert refused.value.status_code == 401


async def test_tampered_value_is_refused_with_401(pa_sandbox: PaymentAssistSandbox) -> None:
    params = {"amount": "50000"}
    form = {"amount": "50001", "api_key": API_KEY, "signature": signature(params, SECRET)}

    async with httpx.AsyncClient(base_url=pa_sandbox.base_url) as http:
        response = await http.post("/plan", data=form)

    assert response.status_code == 401
    assert response.json() == {
        "status": "error",
        "msg": "authentication failed: invalid signature",
        "data": None,
    }


async def test_unknown_api_key_is_refused_with_401(pa_sandbox: PaymentAssistSandbox) -> None:
    async with PaymentAssistClient(pa_sandbox.base_url, "demo_other", SECRET) as client:
        with pytest.raises(Refused) as refused:
            await client.account()
    assert refused.value.status_code == 401


async def test_json_bodies_are_verified_like_forms(pa_sandbox: PaymentAssistSandbox) -> None:
    params = {"amount": "50000", "plan_id": "1"}
    body = {
        "amount": 50000,
        "plan_id": 1,
        "api_key": API_KEY,
        "signature": signature(params, SECRET),
    }

    async with httpx.AsyncClient(base_url=pa_sandbox.base_url) as http:
        response = await http.post("/plan", json=body)

    assert response.status_code == 200
    assert response.json()["data"]["repayable"] == 50_000


def test_a_signature_with_non_ascii_characters_is_simply_not_valid() -> None:
    from providers.paymentassist.signing import verify_return

    assert verify_return("token", "success", "\x1d\U000f081d\u00dd", SECRET) is False
