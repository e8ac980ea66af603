"""A workflow task Temporal rejected is redone by the worker: its `/status` read is not sent
to the lender a second time."""

from __future__ import annotations

import dataclasses

from temporalio.testing import ActivityEnvironment

from activities.paymentassist import PaymentAssistActivities
from providers.paymentassist.client import PaymentAssistClient
from sandbox.paymentassist.sandbox import PaymentAssistSandbox
from tests.paymentassist.conftest import begin_request


def environment(*, local: bool, activity_id: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, is_local=local, activity_id=activity_id, workflow_run_id="run-1"
    )
    return env


async def test_the_same_local_read_redone_asks_the_lender_once(
    pa_sandbox: PaymentAssistSandbox, pa_client: PaymentAssistClient
) -> None:
    token = (await pa_client.begin(begin_request("redo-1"))).token
    activities = PaymentAssistActivities(pa_client)
    before = pa_sandbox.calls["status"]
    first = await environment(local=True, activity_id="2").run(activities.status_with_claim, token)
    redone = await environment(local=True, activity_id="2").run(activities.status_with_claim, token)
    assert redone == first and pa_sandbox.calls["status"] == before + 1
    await environment(local=True, activity_id="3").run(activities.status_with_claim, token)
    await environment(local=False, activity_id="3").run(activities.status_with_claim, token)
    await environment(local=False, activity_id="3").run(activities.status_with_claim, token)
    assert pa_sandbox.calls["status"] == before + 4  # another read, or not a local one: asked
