"""`/metrics` on the gateway and the worker, after a checkout driven through the sandbox."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from payflow.devserver import DevServer
from payflow.http_server import free_port
from payflow.temporal_client import connect
from providers.paymentassist.signing import sign_webhook
from tests.conftest import PROVIDER_TIMEOUT_SECONDS, Stack
from tests.flows.helpers import SLOW_POLLING, checkout_request, eventually, own_settings
from tests.payload_keys import CODEC
from worker import running_on_sandbox

NO_WATCH = SLOW_POLLING.model_copy(update={"invoice_watch_seconds": 0})
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    """Every sample of a scrape, by name and labels (the text must parse as Prometheus)."""
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.get(f"{url}/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when the series is absent."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def has_label(samples: Samples, label: str, fragment: str) -> bool:
    """Whether any sample has a label value containing `fragment`."""
    return any(fragment in dict(labels).get(label, "") for _, labels in samples)


async def test_gateway_and_worker_expose_payflow_and_temporal_series(
    stack: Stack, temporal_server: DevServer
) -> None:
    client = await connect(temporal_server.address, codec=CODEC, metrics=True)
    settings = own_settings(stack, worker_metrics_port=free_port(), flow_counts_ttl_seconds=0)
    worker_url = f"http://{settings.metrics_host}:{settings.worker_metrics_port}"
    sim = stack.sandbox.paymentassist
    async with running_on_sandbox(
        client, settings, stack.sandbox, timeout_seconds=PROVIDER_TIMEOUT_SECONDS, codec=CODEC
    ) as gateway:
        before = await scrape(gateway.url)
        request = checkout_request(timing=NO_WATCH)  # the workflow ends once completed
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            started = await http.post(
                "/v1/checkouts", json=request.model_dump(mode="json"), headers=stack.merchant
            )
            assert started.status_code == 201, started.text
            forged = {"event_name": "application.completed", "event_data": {"token": "t"}}
            forged["signature"] = sign_webhook(forged, "not-the-secret")
            rejected = await http.post(
                "/webhooks/paymentassist", params={"order_id": request.order_id}, json=forged
            )
            assert rejected.status_code == 401
            await sim.decide(started.json()["token"], "approve")  # the lender's webhook follows

            async def status() -> str:
                reply = await http.get(f"/v1/checkouts/{request.order_id}", headers=stack.merchant)
                return str(reply.json()["status"])

            await eventually(status, lambda found: found == "completed")

        def counted(samples: Samples, outcome: str) -> float:
            return value(
                samples,
                "payflow_callbacks_total",
                provider="paymentassist",
                kind="webhook",
                outcome=outcome,
            )

        after = await eventually(  # visibility catches up with the completion
            lambda: scrape(gateway.url),
            lambda found: (
                value(found, "payflow_flows", provider="paymentassist", status="completed") >= 1
            ),
            interval=0.5,
        )
        assert counted(after, "verified") >= counted(before, "verified") + 1
        assert counted(after, "rejected") >= counted(before, "rejected") + 1
        assert ("payflow_flows_needing_attention", frozenset({("provider", "passimpay")})) in after
        assert {"temporal_request_total", "python_gc_objects_collected_total"} <= names(after)

        worked = await scrape(worker_url)
    begins = {"provider": "paymentassist", "endpoint": "/begin"}
    count = "payflow_provider_request_duration_seconds_count"
    assert value(worked, count, **begins) >= value(before, count, **begins) + 1
    assert value(worked, count, provider="paymentassist", endpoint="/status") >= 1
    assert {"payflow_withdraw_gap_seconds_count", "payflow_withdraw_missed_slots_total"} <= names(
        worked
    )
    assert any(name.startswith("temporal_workflow_completed") for name in names(worked))
    assert has_label(worked, "task_queue", settings.task_queue)
    assert not has_label(worked, "endpoint", request.order_id)  # ids never become labels
