"""Session-wide real parts: one Temporal dev server, the simulators, a worker and the gateway."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client

from ledger.migrate import upgrade
from ledger.store import Ledger
from payflow.checkouts import PaymentAssistCheckouts
from payflow.crypto import PassimpayPayments
from payflow.devserver import DevServer, start_dev_server
from payflow.documents import DocumentStore
from payflow.http_server import RunningServer, free_port
from payflow.settings import PayflowSettings
from payflow.stack import RunningSandbox, running_sandbox
from payflow.temporal_client import connect
from payflow.withdrawals import PassimpayWithdrawals
from tests.payload_keys import CODEC
from worker import running_on_sandbox

os.environ["PAYFLOW_WORKFLOW_SANDBOX"] = "true"
"""Every worker the tests start, in this process or another, runs workflows in the SDK's
sandbox: a call it refuses fails the suite, though production runs without it."""

PROVIDER_TIMEOUT_SECONDS = 2.0
MERCHANT_TOKEN = "merchant-test-token-0123456789"
OPERATOR_TOKEN = "operator-test-token-0123456789"
OPERATOR = "ops-ada"
NOTIFY_SECRET = "notify-test-secret-0123456789"
DELETE_AT_ONCE = [
    "--dynamic-config-value",
    "history.transferProcessorEnsureCloseBeforeDelete=false",
]
"""A deleted workflow (as retention deletes it) is gone at once, not after the transfer
queue's 30 s acknowledgement interval."""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_server() -> AsyncIterator[DevServer]:
    async with start_dev_server(extra_args=DELETE_AT_ONCE) as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(temporal_server: DevServer) -> Client:
    return await connect(temporal_server.address, codec=CODEC)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> PayflowSettings:
    port = free_port()
    return PayflowSettings(
        task_queue=f"payflow-test-{uuid.uuid4().hex[:8]}",
        public_url=f"http://127.0.0.1:{port}",
        gateway_port=port,
        api_token=SecretStr(MERCHANT_TOKEN),
        operator_tokens={OPERATOR: SecretStr(OPERATOR_TOKEN)},
        state_dir=str(tmp_path_factory.mktemp("payflow-state")),
        # outcomes, not deadlines: a loaded machine must not turn callbacks the tests count
        # into provider retries (tests/flows/test_gateway_load.py checks the bounds)
        temporal_signal_timeout_seconds=5.0,
        notify_secret=SecretStr(NOTIFY_SECRET),
        notify_private_hosts=True,  # the merchants' endpoints in tests listen on loopback
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sandbox(settings: PayflowSettings) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(
        passimpay_callback_url=f"{settings.public_url}/webhooks/passimpay",
        retry_delay=0.1,
        invoice_lifetime=3600,
    ) as running:
        yield running


@dataclass(frozen=True)
class Stack:
    """Everything a flow test talks to."""

    client: Client
    sandbox: RunningSandbox
    gateway: RunningServer
    settings: PayflowSettings
    checkouts: PaymentAssistCheckouts
    crypto: PassimpayPayments
    withdrawals: PassimpayWithdrawals
    ledger: Ledger
    merchant: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {MERCHANT_TOKEN}"}
    )
    """Headers of the merchant's API calls."""
    operator: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )
    """Headers of an operator's API calls."""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_ledger(settings: PayflowSettings) -> AsyncIterator[Ledger]:
    """The stack's ledger of record: SQLite in the session's state dir, at this code's schema."""
    ledger = Ledger.connect(settings.ledger_url())
    await upgrade(ledger.engine)
    try:
        yield ledger
    finally:
        await ledger.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(
    client: Client, sandbox: RunningSandbox, settings: PayflowSettings, session_ledger: Ledger
) -> AsyncIterator[Stack]:
    async with running_on_sandbox(
        client, settings, sandbox, timeout_seconds=PROVIDER_TIMEOUT_SECONDS, codec=CODEC
    ) as gateway:
        checkouts = PaymentAssistCheckouts(
            client,
            task_queue=settings.task_queue,
            public_url=settings.public_url,
            documents=DocumentStore.under(settings.state_dir),
            ledger=session_ledger,
        )
        crypto = PassimpayPayments(client, task_queue=settings.task_queue, ledger=session_ledger)
        withdrawals = PassimpayWithdrawals(
            client, task_queue=settings.task_queue, ledger=session_ledger
        )
        yield Stack(
            client, sandbox, gateway, settings, checkouts, crypto, withdrawals, session_ledger
        )
