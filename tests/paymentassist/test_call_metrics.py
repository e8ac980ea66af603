"""Provider call metrics: every call timed, every failure counted by kind, against the sandbox."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from payflow.http_server import free_port
from providers.errors import Refused, Transient
from providers.paymentassist import PaymentAssistClient
from providers.paymentassist.errors import NotSent
from sandbox.paymentassist import PaymentAssistSandbox

from .conftest import API_KEY, SECRET, begin_request


def calls(endpoint: str) -> float:
    labels = {"provider": "paymentassist", "endpoint": endpoint}
    return REGISTRY.get_sample_value("payflow_provider_request_duration_seconds_count", labels) or 0


def errors(endpoint: str, kind: str) -> float:
    labels = {"provider": "paymentassist", "endpoint": endpoint, "error": kind}
    return REGISTRY.get_sample_value("payflow_provider_request_errors_total", labels) or 0


async def test_failures_are_counted_by_kind(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    begun, transient, refused = (
        calls("/begin"),
        errors("/begin", "transient"),
        errors("/status", "refused"),
    )
    pa_sandbox.faults.fail_next("begin", "503")
    with pytest.raises(Transient):
        await pa_client.begin(begin_request("metrics-5xx"))
    assert (await pa_client.begin(begin_request("metrics-5xx"))).token
    with pytest.raises(Refused):
        await pa_client.status("00000000-0000-0000-0000-000000000000")
    assert calls("/begin") == begun + 2
    assert errors("/begin", "transient") == transient + 1
    assert errors("/status", "refused") == refused + 1


async def test_a_request_that_never_left_is_counted_not_sent() -> None:
    before = errors("/account", "not_sent")
    async with PaymentAssistClient(
        f"http://127.0.0.1:{free_port()}", API_KEY, SECRET, timeout=1.0
    ) as client:
        with pytest.raises(NotSent):
            await client.account()
    assert errors("/account", "not_sent") == before + 1
