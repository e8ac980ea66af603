"""The time-skipping test server, with payflow's search attributes, for day-long timers."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from ledger.migrate import upgrade
from ledger.store import Ledger
from payflow.codec import data_converter
from payflow.search_attributes import SEARCH_ATTRIBUTE_TYPES
from payflow.settings import PayflowSettings
from payflow.stack import RunningSandbox
from tests.payload_keys import CODEC
from worker import passimpay_client, paymentassist_client, running_worker

INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server that knows our search attributes; payloads sealed as everywhere."""
    server = Path(sys.executable).parent / "temporal-test-server"
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(CODEC), test_server_existing_path=str(server)
    ) as env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    name: INDEXED_TYPES[kind] for name, kind in SEARCH_ATTRIBUTE_TYPES.items()
                },
            )
        )
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def skipping(
    time_skipping: WorkflowEnvironment,
    sandbox: RunningSandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """The time-skipping server with a real worker on it, talking to the simulators and
    writing to a ledger of its own."""
    settings = PayflowSettings(
        task_queue=f"payflow-skip-{uuid.uuid4().hex[:8]}",
        state_dir=str(tmp_path_factory.mktemp("skipping")),
    )
    ledger = Ledger.connect(settings.ledger_url())
    await upgrade(ledger.engine)
    try:
        async with running_worker(
            time_skipping.client,
            settings=settings,
            paymentassist=paymentassist_client(sandbox.paymentassist_settings()),
            passimpay=passimpay_client(sandbox.passimpay_settings()),
            ledger=ledger,
        ):
            yield time_skipping, settings.task_queue
    finally:
        await ledger.close()
