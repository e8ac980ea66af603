"""The merchant API is closed: a token per role, 401 without one, 403 for the wrong role, and
production processes that refuse to start open or on the sandboxes' credentials."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.service import RPCError

from payflow.settings import PassimpaySettings, PayflowSettings, PaymentAssistSettings
from payflow.startup import UnsafeStart, api_problems, check_start, provider_problems
from state.passimpay_withdrawal_models import WithdrawalRequest
from tests.conftest import MERCHANT_TOKEN, OPERATOR_TOKEN, Stack
from tests.flows.helpers import another_gateway, checkout_request, new_order_id
from workflows.paymentassist_checkout import checkout_workflow_id

ROOT = Path(__file__).resolve().parents[2]
TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


async def never_started(stack: Stack, workflow_id: str) -> bool:
    """Whether Temporal has no workflow under this id."""
    try:
        await stack.client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return True
    return False


async def test_no_token_or_an_unknown_one_gets_401_and_starts_nothing(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = checkout_request()
    body = request.model_dump(mode="json")
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        missing = await http.post("/v1/checkouts", json=body)
        unknown = await http.post(
            "/v1/checkouts", json=body, headers={"Authorization": "Bearer not-a-token"}
        )
        basic = await http.post(
            "/v1/checkouts", json=body, headers={"Authorization": f"Basic {MERCHANT_TOKEN}"}
        )
        read = await http.get(f"/v1/checkouts/{request.order_id}")
    for refused in (missing, unknown, basic, read):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "bearer token" in refused.json()["detail"]
    assert await never_started(stack, checkout_workflow_id(request.order_id))
    assert "refused POST /v1/checkouts" in caplog.text
    assert "not-a-token" not in caplog.text and MERCHANT_TOKEN not in caplog.text


async def test_the_bearer_scheme_is_case_insensitive(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        for scheme in ("bearer", "BEARER", "Bearer"):
            answer = await http.get(
                "/v1/checkouts/no-such-order",
                headers={"Authorization": f"{scheme} {MERCHANT_TOKEN}"},
            )
            assert answer.status_code == 404, (scheme, answer.text)  # past the token check


async def test_operator_actions_with_the_merchant_token_get_403_and_change_nothing(
    stack: Stack,
) -> None:
    payout = WithdrawalRequest(
        order_id=new_order_id("wd"), payment_id=70, address_to=TRON, amount="1"
    )  # type: ignore[arg-type]
    operator_calls = [
        ("post", f"/v1/checkouts/{new_order_id()}/resolve", {"close_reason": "x"}),
        ("post", f"/v1/crypto/withdrawals/{payout.order_id}/resolve", {"decision": "paid", "note": "x"}),
        ("post", "/v1/crypto/addresses/any/deposits/resolve", {"key": "1:a", "credit": True, "note": "x"}),
        ("post", "/v1/crypto/addresses/any/close", None),
        ("get", "/v1/crypto/unmatched-callbacks", None),
        ("post", "/v1/crypto/unmatched-callbacks/abc/acknowledge", None),
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        for method, path, body in operator_calls:
            answer = await http.request(method, path, json=body, headers=stack.merchant)
            assert answer.status_code == 403, (path, answer.text)
            assert "needs the operator token" in answer.json()["detail"]
        started = await http.post(
            "/v1/checkouts", json=checkout_request().model_dump(mode="json"), headers=stack.operator
        )
        assert started.status_code == 403 and "needs the merchant token" in started.json()["detail"]
        inbox = await http.get("/v1/crypto/unmatched-callbacks", headers=stack.operator)
        assert inbox.status_code == 200


async def test_an_open_gateway_exists_only_without_tokens_and_says_so_once(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with (
        another_gateway(stack, api_token=None, operator_tokens={}, insecure=True) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        for _ in range(3):
            assert (await http.get("/v1/checkouts/no-such-order")).status_code == 404
    warnings = [r for r in caplog.records if "API IS OPEN" in r.getMessage()]
    assert len(warnings) == 1  # at start-up, not per request


async def test_insecure_mode_never_switches_off_a_configured_token(stack: Stack) -> None:
    """PAYFLOW_INSECURE=true for sandbox credentials must not open an API that has tokens."""
    async with (
        another_gateway(stack, insecure=True) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        anonymous = await http.get("/v1/checkouts/no-such-order")
        started = await http.post(
            "/v1/crypto/withdrawals", json={"order_id": "x", "payment_id": 70, "amount": "1"}
        )
        merchant = await http.get("/v1/checkouts/no-such-order", headers=stack.merchant)
        resolve = await http.post(
            "/v1/crypto/withdrawals/x/resolve", json={}, headers=stack.merchant
        )
    assert anonymous.status_code == 401 and started.status_code == 401
    assert merchant.status_code == 404 and resolve.status_code == 403


async def test_the_openapi_documents_the_bearer_scheme_and_its_refusals(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        response = await http.get("/openapi.json")
    spec = response.json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operation = spec["paths"]["/v1/checkouts"]["post"]
    assert operation["security"] == [{"HTTPBearer": []}]
    assert {"401", "403"} <= set(operation["responses"])


def test_production_settings_without_tokens_or_real_credentials_are_refused() -> None:
    open_api = PayflowSettings(api_token=None, operator_token=None, operator_tokens={})
    problems = api_problems(open_api) + provider_problems(
        PaymentAssistSettings(), PassimpaySettings()
    )
    assert any("PAYFLOW_API_TOKEN" in p for p in problems)
    assert any("PAYFLOW_OPERATOR_TOKEN" in p for p in problems)
    assert any("PAYMENTASSIST_API_SECRET" in p for p in problems)
    assert any("PASSIMPAY_API_KEY" in p for p in problems)
    with pytest.raises(UnsafeStart, match="refusing to start"):
        check_start(problems, open_api, logging.getLogger("test"))
    shared = PayflowSettings(
        api_token=SecretStr(MERCHANT_TOKEN), operator_token=SecretStr(MERCHANT_TOKEN)
    )
    assert any("tokens of their own" in p for p in api_problems(shared))
    short = PayflowSettings(api_token=SecretStr("short"), operator_token=SecretStr(OPERATOR_TOKEN))
    assert any("at least" in p for p in api_problems(short))
    check_start(problems, open_api.model_copy(update={"insecure": True}), logging.getLogger("t"))


@pytest.mark.parametrize("command", [["-m", "payflow.cli", "gateway"], ["worker.py"]])
def test_gateway_and_worker_processes_refuse_to_start_open(command: list[str]) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PAYFLOW_", "PAYMENTASSIST_", "PASSIMPAY_"))
    }
    env["TEMPORAL_ADDRESS"] = "127.0.0.1:9"  # never reached: the check comes first
    done = subprocess.run(
        [sys.executable, *command], env=env, cwd=ROOT, capture_output=True, timeout=60, text=True
    )
    assert done.returncode != 0
    assert "refusing to start" in done.stderr
    assert "PASSIMPAY_API_KEY is the sandbox's" in done.stderr
    assert "sandbox-passimpay-key" not in done.stderr + done.stdout  # names, never the secrets
