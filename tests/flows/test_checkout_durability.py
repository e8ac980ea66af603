"""A checkout survives its worker being killed, and no secret ever reaches Temporal or logs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from payflow.checkouts import PaymentAssistCheckouts
from payflow.devserver import DevServer, stop_process
from tests.conftest import Stack
from tests.flows.helpers import (
    SLOW_POLLING,
    browser_get,
    checkout_request,
    decoded_history,
    wait_for_status,
)
from tests.payload_keys import PAYLOAD_KEYS_ENV
from workflows.paymentassist_checkout import checkout_workflow_id

ROOT = Path(__file__).resolve().parents[2]
SECRET = "demo_sandbox_secret"


def start_worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python worker.py` as production runs it, its output kept for inspection."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")], env=env, stdout=out, stderr=out, cwd=ROOT
        )


@pytest.fixture
def worker_env(stack: Stack, temporal_server: DevServer) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_server.address,
        "PAYFLOW_INSECURE": "true",  # the simulators' credentials
        "PAYFLOW_PAYLOAD_KEYS": PAYLOAD_KEYS_ENV,
        "PAYFLOW_STATE_DIR": stack.settings.state_dir,
        "PAYFLOW_TASK_QUEUE": f"payflow-kill-{uuid.uuid4().hex[:8]}",
        "PAYMENTASSIST_API_URL": stack.sandbox.paymentassist_url,
        "PAYMENTASSIST_API_KEY": "demo_key",
        "PAYMENTASSIST_API_SECRET": SECRET,
        "PAYMENTASSIST_TIMEOUT_SECONDS": "2",
    }


async def test_worker_killed_mid_flow_and_restarted(
    stack: Stack, worker_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    checkouts = PaymentAssistCheckouts(
        stack.client,
        task_queue=worker_env["PAYFLOW_TASK_QUEUE"],
        public_url=stack.settings.public_url,
    )
    first = start_worker_process(worker_env, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        request = checkout_request()
        started = await checkouts.start(request)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        redirect = await stack.sandbox.paymentassist.decide(started.token, "approve")
        await browser_get(redirect)  # signalled while no worker runs

        second = start_worker_process(worker_env, log)
        view = await wait_for_status(checkouts, request.order_id, "completed", timeout=60)
        # the return and the webhook both reached the workflow while no worker ran; one of
        # them may have been only counted, as a hint that arrives while a check is due is
        assert len(view.hints) + view.hints_coalesced >= 2
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)
    assert SECRET not in log.read_text(errors="replace")


async def test_no_secret_in_workflow_history_or_logs(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = stack.sandbox.paymentassist
    request = checkout_request(timing=SLOW_POLLING.model_copy(update={"invoice_watch_seconds": 0}))
    started = await stack.checkouts.start(request)
    await browser_get(await sim.decide(started.token, "approve"))
    await wait_for_status(stack.checkouts, request.order_id, "completed")
    handle = stack.client.get_workflow_handle(checkout_workflow_id(request.order_id))
    await handle.result()
    history = await decoded_history(handle)
    assert started.token in history and request.customer.email in history  # payloads decoded
    assert SECRET not in history
    assert SECRET not in caplog.text
