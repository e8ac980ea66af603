"""Every refusal has one shape, RFC 9457 problem details, whoever refuses: our Python API's
errors, FastAPI's validation, Starlette's routing, the token check and the provider callbacks."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.problems import PROBLEM_JSON, TITLES, TYPE_PREFIX
from tests.conftest import Stack
from tests.flows.helpers import checkout_request, new_order_id

SECRET_EMAIL = "not-an-email-but-personal"


def problem(response: httpx.Response, status: int, code: str, path: str) -> dict[str, Any]:
    """The body, once it is checked to be the problem it should be."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] == f"{TYPE_PREFIX}{code}" and body["code"] == code
    assert body["status"] == status and body["instance"] == path
    assert body["title"] and body["title"] == TITLES.get(code, body["title"])
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def test_token_refusals_are_problems(stack: Stack) -> None:
    path = f"/v1/checkouts/{new_order_id()}"
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        missing = await http.get(path)
        wrong_role = await http.post(f"{path}/resolve", json={}, headers=stack.merchant)
    problem(missing, 401, "unauthorized", path)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "operator" in problem(wrong_role, 403, "forbidden", f"{path}/resolve")["detail"]


async def test_unknown_payments_routes_and_methods_are_problems(stack: Stack) -> None:
    order = f"/v1/crypto/withdrawals/{new_order_id()}"
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        unknown_payment = await http.get(order)
        unknown_route = await http.get("/v1/nothing-here")
        wrong_method = await http.delete("/v1/checkouts")
    assert "no payment" in problem(unknown_payment, 404, "not_found", order)["detail"]
    problem(unknown_route, 404, "not_found", "/v1/nothing-here")
    problem(wrong_method, 405, "method_not_allowed", "/v1/checkouts")


async def test_validation_errors_say_where_and_never_echo_what_was_sent(stack: Stack) -> None:
    body = checkout_request().model_dump(mode="json")
    body["customer"]["email"] = SECRET_EMAIL
    del body["amount"]
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=10
    ) as http:
        invalid = await http.post("/v1/checkouts", json=body)
        not_json = await http.post(
            "/v1/checkouts", content=b"{", headers={"content-type": "application/json"}
        )
    answer = problem(invalid, 422, "invalid_request", "/v1/checkouts")
    where = {tuple(issue["loc"]) for issue in answer["errors"]}
    assert where == {("body", "amount"), ("body", "customer", "email")}
    assert all(set(issue) == {"loc", "msg", "type"} for issue in answer["errors"])
    assert SECRET_EMAIL not in invalid.text
    assert problem(not_json, 422, "invalid_request", "/v1/checkouts")["errors"]


async def test_refusals_in_the_payments_state_are_problems(stack: Stack) -> None:
    request = checkout_request()
    await stack.checkouts.start(request)
    path = f"/v1/checkouts/{request.order_id}"
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as http:
        await http.post(f"{path}/cancel", headers=stack.merchant)
        again = await http.post(f"{path}/cancel", headers=stack.merchant)
        refused = await http.post(
            f"{path}/resolve", json={"token": "0" * 36}, headers=stack.operator
        )
    problem(again, 409, "conflict", f"{path}/cancel")
    problem(refused, 409, "conflict", f"{path}/resolve")  # nothing to resolve: it has ended


async def test_callback_rejections_are_problems(stack: Stack) -> None:
    order_id = new_order_id()
    paymentassist = f"/webhooks/paymentassist?order_id={order_id}"
    forged = {"event_name": "application.completed", "event_data": {"token": "t"}}
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        unsigned = await http.post(paymentassist, json=forged)
        not_json = await http.post(paymentassist, content=b"{")
        too_large = await http.post(paymentassist, content=b" " * (64 * 1024 + 1))
        passimpay = await http.post(
            "/webhooks/passimpay",
            content=json.dumps({"platformId": 50, "orderId": order_id}).encode(),
            headers={"content-type": "application/json", "x-signature": "forged"},
        )
    problem(unsigned, 401, "bad_signature", "/webhooks/paymentassist")
    problem(not_json, 400, "not_json", "/webhooks/paymentassist")
    problem(too_large, 413, "too_large", "/webhooks/paymentassist")
    problem(passimpay, 401, "bad_signature", "/webhooks/passimpay")


async def test_a_refused_codec_preflight_is_a_problem(stack: Stack) -> None:
    allowed = stack.settings.temporal_ui_origins()[0]
    asked = {"access-control-request-method": "POST"}
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        refused = await http.options(
            "/codec/decode", headers={**asked, "origin": "https://elsewhere.example"}
        )
        wrong_header = await http.options(
            "/codec/decode",
            headers={**asked, "origin": allowed, "access-control-request-headers": "x-other"},
        )
        accepted = await http.options("/codec/decode", headers={**asked, "origin": allowed})
    assert "origin" in problem(refused, 400, "cors_refused", "/codec/decode")["detail"]
    assert "headers" in problem(wrong_header, 400, "cors_refused", "/codec/decode")["detail"]
    assert wrong_header.headers["access-control-allow-origin"] == allowed  # the browser reads it
    assert accepted.status_code == 200
    assert accepted.headers["access-control-allow-origin"] == allowed


async def test_booleans_are_no_numbers(stack: Stack) -> None:
    checkout = checkout_request().model_dump(mode="json")
    checkout.update(plan_id=False, expiry_seconds=True)
    checkout["timing"]["active_poll_seconds"] = True
    wanted = {
        "/v1/checkouts": (
            checkout,
            {("plan_id",), ("expiry_seconds",), ("timing", "active_poll_seconds")},
        ),
        "/v1/crypto/invoices": (
            {
                "order_id": new_order_id(),
                "amount": "10.00",
                "currencies": [True],
                "type": False,
                "expiry_seconds": True,
            },
            {("currencies", 0), ("type",), ("expiry_seconds",)},
        ),
        "/v1/crypto/addresses": (
            {"order_id": new_order_id(), "payment_id": True, "continue_as_new_after": True},
            {("payment_id",), ("continue_as_new_after",)},
        ),
        "/v1/crypto/withdrawals": (
            {
                "order_id": new_order_id(),
                "payment_id": True,
                "address_to": "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8",
                "amount": "1",
                "timing": {"idle_poll_seconds": False},
            },
            {("payment_id",), ("timing", "idle_poll_seconds")},
        ),
    }
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers=stack.merchant, timeout=30
    ) as http:
        for path, (body, fields) in wanted.items():
            answer = problem(await http.post(path, json=body), 422, "invalid_request", path)
            where = {tuple(issue["loc"][1:]) for issue in answer["errors"]}
            assert where == fields, path
