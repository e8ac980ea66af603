"""`/readyz`: ready only while Temporal answers and a worker polls the gateway's task queue."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from temporalio.client import Client

from payflow.devserver import DevServer, start_dev_server
from payflow.http_server import free_port
from payflow.metrics import sdk_metrics_url
from payflow.settings import PayflowSettings
from payflow.stack import running_gateway
from payflow.temporal_client import connect
from tests.conftest import Stack
from tests.flows.helpers import eventually, own_settings
from tests.payload_keys import CODEC
from worker import passimpay_client, paymentassist_client, running_worker

LONG_POLL = "2s"
"""The server ends an idle poll after this (60 s by default), so a live worker polls again
within it and a stopped one is seen stale within `MAX_POLLER_AGE`."""
MAX_POLLER_AGE = 4.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def quick_polls() -> AsyncIterator[DevServer]:
    """A Temporal dev server of this module's own, with short long polls."""
    args = ["--dynamic-config-value", f'matching.longPollExpirationInterval="{LONG_POLL}"']
    async with start_dev_server(extra_args=args) as server:
        yield server


@contextlib.asynccontextmanager
async def gateway_on(client: Client, stack: Stack, settings: PayflowSettings) -> AsyncIterator[str]:
    """A gateway for `settings`' task queue; yields its URL."""
    async with running_gateway(
        client,
        settings=settings,
        paymentassist=stack.sandbox.paymentassist_settings(),
        passimpay=stack.sandbox.passimpay_settings(),
    ) as server:
        yield server.url


async def readyz(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"{url}/readyz")


async def test_ready_while_a_worker_polls_and_not_once_it_stopped(
    stack: Stack, quick_polls: DevServer
) -> None:
    client = await connect(quick_polls.address, codec=CODEC)
    settings = own_settings(stack, ready_poller_max_age_seconds=MAX_POLLER_AGE)
    async with gateway_on(client, stack, settings) as url:
        idle = await readyz(url)
        assert idle.status_code == 503
        assert idle.headers["content-type"] == "application/problem+json"
        problem = idle.json()
        assert problem["status"] == 503 and problem["title"] and problem["type"]
        assert len(problem["missing"]) == 2  # workflow and activity pollers
        assert settings.task_queue in problem["detail"]

        async with running_worker(
            client,
            settings=settings,
            paymentassist=paymentassist_client(stack.sandbox.paymentassist_settings()),
            passimpay=passimpay_client(stack.sandbox.passimpay_settings()),
        ):
            ready = await eventually(lambda: readyz(url), lambda r: r.status_code == 200)
            assert ready.json() == {"status": "ready"}
            await asyncio.sleep(MAX_POLLER_AGE + 1)  # past the first polls' age: renewed ones count
            assert (await readyz(url)).status_code == 200
        stale = await eventually(
            lambda: readyz(url), lambda r: r.status_code == 503, timeout=MAX_POLLER_AGE + 6
        )
        assert "no worker polled workflow tasks" in stale.json()["detail"]
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{url}/healthz")).status_code == 200  # still alive


async def test_not_ready_when_temporal_does_not_answer(stack: Stack) -> None:
    nobody = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    settings = own_settings(stack, temporal_rpc_timeout_seconds=1.0)
    async with gateway_on(nobody, stack, settings) as url:
        refused = await readyz(url)
    assert refused.status_code == 503
    assert refused.json()["missing"] == [refused.json()["detail"]]
    assert refused.json()["detail"].startswith("Temporal did not answer")


async def describes(sdk_metrics: str) -> float:
    """DescribeTaskQueue calls this process's Temporal clients made, by the SDK's own count."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(sdk_metrics)).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("temporal_request_total{") and 'operation="DescribeTaskQueue"' in line
    )


async def test_many_probes_cost_temporal_a_bounded_number_of_calls(
    stack: Stack, temporal_server: DevServer
) -> None:
    client = await connect(temporal_server.address, codec=CODEC, metrics=True)
    sdk_metrics = sdk_metrics_url(client)
    assert sdk_metrics is not None
    probes, ttl = 200, 1.0  # PAYFLOW_READY_CACHE_SECONDS' default
    at_once = 8  # as many as the gateway has probe slots (more would be shed: 503, overloaded)
    settings = own_settings(stack, task_queue=stack.settings.task_queue)  # the worker polls it
    async with (
        gateway_on(client, stack, settings) as url,
        httpx.AsyncClient(
            base_url=url, timeout=10, limits=httpx.Limits(max_connections=at_once)
        ) as http,
    ):
        before = await describes(sdk_metrics)
        began = time.monotonic()
        answers = await asyncio.gather(*(http.get("/readyz") for _ in range(probes)))
        seconds = time.monotonic() - began
        calls = await describes(sdk_metrics) - before
    bound = 2 * (math.ceil(seconds / ttl) + 1)  # two kinds of pollers per look-up
    print(f"{probes} probes in {seconds:.2f} s: {calls:g} DescribeTaskQueue calls (bound {bound})")
    assert [answer.status_code for answer in answers] == [200] * probes
    assert calls <= bound
