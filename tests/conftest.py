"""Session-wide real parts: one Temporal dev server, the simulators, a worker and the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from temporalio.client import Client

from payflow.checkouts import PaymentAssistCheckouts
from payflow.devserver import DevServer, start_dev_server
from payflow.http_server import RunningServer, free_port
from payflow.settings import PayflowSettings
from payflow.stack import RunningSandbox, running_gateway, running_sandbox
from payflow.temporal_client import connect
from worker import paymentassist_client, running_worker

PROVIDER_TIMEOUT_SECONDS = 2.0


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_server() -> AsyncIterator[DevServer]:
    async with start_dev_server() as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(temporal_server: DevServer) -> Client:
    return await connect(temporal_server.address)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(webhook_retry_delay=0.1) as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings() -> PayflowSettings:
    port = free_port()
    return PayflowSettings(
        task_queue=f"payflow-test-{uuid.uuid4().hex[:8]}",
        public_url=f"http://127.0.0.1:{port}",
        gateway_port=port,
    )


@dataclass(frozen=True)
class Stack:
    """Everything a flow test talks to."""

    client: Client
    sandbox: RunningSandbox
    gateway: RunningServer
    settings: PayflowSettings
    checkouts: PaymentAssistCheckouts


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(
    client: Client, sandbox: RunningSandbox, settings: PayflowSettings
) -> AsyncIterator[Stack]:
    paymentassist = sandbox.paymentassist_settings(timeout_seconds=PROVIDER_TIMEOUT_SECONDS)
    async with (
        running_worker(
            client, settings=settings, paymentassist=paymentassist_client(paymentassist)
        ),
        running_gateway(client, settings=settings, paymentassist=paymentassist) as gateway,
    ):
        checkouts = PaymentAssistCheckouts(
            client, task_queue=settings.task_queue, public_url=settings.public_url
        )
        yield Stack(client, sandbox, gateway, settings, checkouts)
