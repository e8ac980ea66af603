"""`payflow codec-server` on its own: the Temporal UI's codec protocol, operators only, CORS."""

from __future__ import annotations

from typing import Any

import httpx
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from gateway.access import AccessTokens
from payflow.codec import EncryptionCodec
from payflow.codec_server import create_codec_app

UI = "http://127.0.0.1:8233"
OPERATOR, MERCHANT = "operator-token-0123456789abc", "merchant-token-0123456789abc"
CODEC = EncryptionCodec({"k1": b"k" * 32}, "k1")
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ottoline.f@example.org"}')
TOKENS = AccessTokens.from_settings(SecretStr(MERCHANT), SecretStr(OPERATOR), {})


def body(payloads: list[Payload]) -> dict[str, Any]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def client(access: AccessTokens = TOKENS) -> httpx.AsyncClient:
    app = create_codec_app(CODEC, access, [UI])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


async def test_an_operator_opens_what_the_codec_sealed_and_nobody_else_does() -> None:
    sealed = await CODEC.encode([PLAIN])
    assert b"ottoline" not in sealed[0].SerializeToString()
    async with client() as http:
        opened = await http.post(
            "/decode", json=body(sealed), headers={"Authorization": f"bearer {OPERATOR}"}
        )
        anonymous = await http.post("/decode", json=body(sealed))
        merchant = await http.post(
            "/decode", json=body(sealed), headers={"Authorization": f"Bearer {MERCHANT}"}
        )
        wrong = await http.post(
            "/decode", json=body(sealed), headers={"Authorization": "Bearer nope"}
        )
    assert opened.status_code == 200, opened.text
    assert list(json_format.ParseDict(opened.json(), Payloads()).payloads) == [PLAIN]
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["code"] == "unauthorized"
    assert merchant.status_code == 403 and wrong.status_code == 401
    assert OPERATOR not in opened.text + anonymous.text + merchant.text


async def test_encode_seals_and_an_unknown_key_is_a_clear_400() -> None:
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    async with client() as http:
        sealed = await http.post("/encode", json=body([PLAIN]), headers=operator)
        assert sealed.status_code == 200
        payloads = list(json_format.ParseDict(sealed.json(), Payloads()).payloads)
        assert payloads[0].metadata["encryption-key-id"] == b"k1"
        assert await CODEC.decode(payloads) == [PLAIN]
        foreign = await EncryptionCodec({"k9": b"x" * 32}, "k9").encode([PLAIN])
        refused = await http.post("/decode", json=body(foreign), headers=operator)
        junk = await http.post("/decode", json={"payloads": "nope"}, headers=operator)
    assert refused.status_code == 400 and "k9" in refused.text
    assert junk.status_code == 400


async def test_the_ui_origin_may_call_it_from_the_browser_and_others_may_not() -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with client() as http:
        ui = await http.options("/decode", headers={"Origin": UI, **preflight})
        other = await http.options("/decode", headers={"Origin": "http://evil.test", **preflight})
    assert ui.status_code == 200
    assert ui.headers["access-control-allow-origin"] == UI
    assert "authorization" in ui.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


async def test_without_an_operator_token_it_is_open() -> None:
    sealed = await CODEC.encode([PLAIN])
    async with client(AccessTokens()) as http:
        opened = await http.post("/decode", json=body(sealed))
    assert opened.status_code == 200
