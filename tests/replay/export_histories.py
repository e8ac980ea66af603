"""Re-export the replay goldens from real runs, when a workflow change is meant to change them.

Run `.venv/bin/python tests/replay/export_histories.py`; `*-before-*` goldens are never rewritten.
Name scenarios (`... export_histories.py --new completed_via_return`) to run only those, and
`--new` to write only goldens that do not exist yet (a new workflow type's, say).
The histories are recorded without a payload key (sandbox customers only), so a golden stays
readable and can be scanned for secrets; the replayer reads them through the codec, which passes
unencrypted payloads through.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: make `tests` importable

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory  # noqa: E402

from ledger.migrate import upgrade  # noqa: E402
from ledger.store import Ledger  # noqa: E402
from payflow.checkouts import PaymentAssistCheckouts  # noqa: E402
from payflow.crypto import PassimpayPayments  # noqa: E402
from payflow.devserver import start_dev_server  # noqa: E402
from payflow.http_server import free_port  # noqa: E402
from payflow.settings import PayflowSettings  # noqa: E402
from payflow.stack import running_sandbox  # noqa: E402
from payflow.temporal_client import connect  # noqa: E402
from payflow.withdrawals import PassimpayWithdrawals  # noqa: E402
from tests.conftest import Stack  # noqa: E402
from tests.flows.helpers import eventually  # noqa: E402
from tests.replay import scenarios_passimpay, scenarios_paymentassist  # noqa: E402
from tests.replay.goldens import HISTORIES, SECRETS, decoded  # noqa: E402
from worker import running_on_sandbox  # noqa: E402

NEVER_ENDING = (
    "PaymentAssistTokenClaim-",
    "PassimpayUnmatchedCallbacks-",
    "PassimpayWithdrawGate-",
)
END_TIMEOUT = 60.0


def idle(history: WorkflowHistory) -> bool:
    """True when the last workflow task completed and no other is scheduled."""
    types = [event.event_type for event in history.events]
    if EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED not in types:
        return False
    last = len(types) - 1 - types[::-1].index(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    return EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED not in types[last:]


async def settled_history(client: Client, name: str, workflow_id: str) -> WorkflowHistory:
    """A finished run's whole history, or a long-lived one's once it waits for news."""
    handle = client.get_workflow_handle(workflow_id)
    if name.startswith(NEVER_ENDING):
        return await eventually(handle.fetch_history, idle, timeout=END_TIMEOUT)
    await eventually(
        handle.describe,
        lambda info: info.status != WorkflowExecutionStatus.RUNNING,
        timeout=END_TIMEOUT,
    )
    return await handle.fetch_history()


async def write(client: Client, name: str, workflow_id: str, *, new_only: bool = False) -> None:
    """Store one golden, refusing to write a file that holds a secret."""
    if new_only and (HISTORIES / f"{name}.json").exists():
        print(f"{name}: kept", flush=True)
        return
    history = (await settled_history(client, name, workflow_id)).to_json()
    leaked = [secret for secret in SECRETS if secret in decoded(history)]
    if leaked:
        raise SystemExit(f"{name}: the history holds a secret; not written")
    (HISTORIES / f"{name}.json").write_text(history + "\n")
    print(f"{name}: {workflow_id}", flush=True)


async def export(only: Sequence[str] = (), *, new_only: bool = False) -> None:
    """Run every scenario (or those named in `only`) on a fresh stack and write its goldens."""
    port = free_port()
    settings = PayflowSettings(
        task_queue="payflow-replay-export",
        public_url=f"http://127.0.0.1:{port}",
        gateway_port=port,
        state_dir=tempfile.mkdtemp(prefix="payflow-export-"),
    )
    ledger = Ledger.connect(settings.ledger_url())
    await upgrade(ledger.engine)
    HISTORIES.mkdir(exist_ok=True)
    async with (
        start_dev_server() as server,
        running_sandbox(
            passimpay_callback_url=f"{settings.public_url}/webhooks/passimpay", retry_delay=0.1
        ) as sandbox,
    ):
        client = await connect(server.address)  # no codec: goldens stay readable
        sandbox.passimpay.withdraw_settle_seconds = 0.3
        async with running_on_sandbox(client, settings, sandbox, timeout_seconds=2.0) as gateway:
            stack = Stack(
                client, sandbox, gateway, settings,
                PaymentAssistCheckouts(
                    client,
                    task_queue=settings.task_queue,
                    public_url=settings.public_url,
                    ledger=ledger,
                ),
                PassimpayPayments(client, task_queue=settings.task_queue, ledger=ledger),
                PassimpayWithdrawals(client, task_queue=settings.task_queue, ledger=ledger),
                ledger,
            )  # fmt: skip
            for scenario in [*scenarios_paymentassist.SCENARIOS, *scenarios_passimpay.SCENARIOS]:
                if only and scenario.__name__ not in only:
                    continue
                exported = await scenario(stack)
                for name, workflow_id in exported.items():
                    await write(client, name, workflow_id, new_only=new_only)
                sandbox.paymentassist.faults.clear()
                sandbox.passimpay.faults.clear()
                sandbox.passimpay.withdrawals.behave()
                await sandbox.passimpay.wait_idle()


def main() -> None:
    """Export, then exit at once (sdk-python#300)."""
    logging.getLogger("temporalio").setLevel(logging.ERROR)  # expected activity failures
    args = sys.argv[1:]
    asyncio.run(export([arg for arg in args if arg != "--new"], new_only="--new" in args))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
