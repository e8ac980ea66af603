"""One trace from the gateway's request through the workflow to the provider call, with no
secrets or personal data in any span.

Tracing is process-wide once installed: this module turns it on for the rest of the run (the
spans of later tests only collect in memory).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from payflow.temporal_client import connect
from payflow.tracing import install_tracing, tracing_enabled, tracing_requested
from tests.conftest import MERCHANT_TOKEN, PROVIDER_TIMEOUT_SECONDS, Stack
from tests.flows.helpers import browser_get, checkout_request, eventually, own_settings
from tests.payload_keys import CODEC
from worker import running_on_sandbox

SECRETS = (MERCHANT_TOKEN, "demo_sandbox_secret", "sandbox-passimpay-key")


def test_tracing_is_off_unless_an_exporter_is_named() -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})


def one_named(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, sorted(span.name for span in spans)
    return found[0]


async def test_one_trace_links_request_workflow_and_provider_call(stack: Stack) -> None:
    exporter = InMemorySpanExporter()
    provider = install_tracing(exporter)
    assert tracing_enabled()
    client = await connect(stack.client.service_client.config.target_host, codec=CODEC)
    settings = own_settings(stack)
    request = checkout_request()
    sim = stack.sandbox.paymentassist
    async with (
        running_on_sandbox(
            client, settings, stack.sandbox, timeout_seconds=PROVIDER_TIMEOUT_SECONDS, codec=CODEC
        ) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=30) as http,
    ):
        started = await http.post(
            "/v1/checkouts", json=request.model_dump(mode="json"), headers=stack.merchant
        )
        assert started.status_code == 201, started.text
        token = started.json()["token"]
        sim.faults.drop_webhooks()
        try:
            returned = await browser_get(await sim.decide(token, "approve"))
        finally:
            sim.faults.clear()
        assert returned.status_code == 200

        def finished() -> Sequence[ReadableSpan]:
            provider.force_flush()
            return exporter.get_finished_spans()

        async def spans() -> Sequence[ReadableSpan]:
            return finished()

        collected = await eventually(
            spans, lambda found: any(s.name == "paymentassist /status" for s in found)
        )

    start = one_named(collected, "POST /v1/checkouts")
    assert start.kind is SpanKind.SERVER
    assert start.attributes and start.attributes["http.route"] == "/v1/checkouts"
    trace_id = start.context.trace_id
    in_trace = [span for span in collected if span.context.trace_id == trace_id]
    names = {span.name for span in in_trace}
    assert {
        "StartUpdateWithStartWorkflow:PaymentAssistCheckoutV3",
        "RunWorkflow:PaymentAssistCheckoutV3",
        "RunActivity:paymentassist.status_with_claim",  # the return's confirmation, in the trace
        "paymentassist /status",
    } <= names, names
    run_begin = one_named(in_trace, "RunActivity:paymentassist.begin")
    begin = one_named(in_trace, "paymentassist /begin")
    assert begin.parent is not None and begin.parent.span_id == run_begin.context.span_id
    assert begin.attributes and begin.attributes["http.response.status_code"] == 200

    back = one_named(collected, "GET /return/paymentassist")
    assert back.attributes and back.attributes["http.response.status_code"] == 200

    private = (*SECRETS, token, "ada@example.com", "Lovelace", "AB1 2CD", "signature=")
    for span in collected:
        text = " ".join([span.name, *(str(value) for value in (span.attributes or {}).values())])
        text += " ".join(str(event.attributes) for event in span.events)
        assert not [value for value in private if value in text], (span.name, text)
