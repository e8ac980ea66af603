"""`payflow dev --reset` removes what belongs together and keeps a key histories still need."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from payflow.devserver import DevServer, stop_process
from payflow.http_server import free_port
from payflow.reset import describe_reset, reset_dev_state
from tests.flows.helpers import eventually

ROOT = Path(__file__).resolve().parents[1]
DEV_KEY = base64.b64encode(b"an earlier dev stack's key 32 by").decode()


def _dev_state(root: Path) -> None:
    """What a stopped `payflow dev` leaves behind, plus a file of the user's own."""
    (root / "sandbox").mkdir(parents=True)
    (root / "sandbox" / "paymentassist.db").write_bytes(b"old")
    (root / "documents").mkdir()
    (root / "documents" / "ab12").write_bytes(b"invoice")
    for name in ("temporal.db", "temporal.db-wal", "notes.txt"):
        (root / name).write_text(name)
    (root / "payload-key").write_text(DEV_KEY)


def test_reset_with_the_local_dev_server_removes_its_db_key_and_documents(tmp_path: Path) -> None:
    _dev_state(tmp_path)

    removed = reset_dev_state(tmp_path, local_temporal=True)

    names = {path.name for path in removed}
    assert names == {"sandbox", "temporal.db", "temporal.db-wal", "payload-key", "documents"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert describe_reset(tmp_path, removed).startswith(f"reset: removed {tmp_path}/sandbox, ")
    assert reset_dev_state(tmp_path, local_temporal=True) == []
    assert describe_reset(tmp_path, []) == f"reset: nothing to remove in {tmp_path}"


def test_reset_beside_an_existing_cluster_keeps_the_payload_key(tmp_path: Path) -> None:
    _dev_state(tmp_path)

    removed = reset_dev_state(tmp_path, local_temporal=False)

    assert removed == [tmp_path / "sandbox"]
    assert (tmp_path / "payload-key").read_text() == DEV_KEY  # its histories live on
    assert (tmp_path / "documents" / "ab12").exists()


async def test_payflow_dev_reset_prints_one_line_and_starts_clean(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    _dev_state(state)
    gateway_port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PAYFLOW_", "PAYMENTASSIST_", "PASSIMPAY_", "TEMPORAL_"))
    }
    queue = f"payflow-reset-{uuid.uuid4().hex[:8]}"
    env |= {
        "TEMPORAL_ADDRESS": temporal_server.address,  # an existing cluster: no dev server
        "PAYFLOW_STATE_DIR": str(state),
        "PAYFLOW_TASK_QUEUE": queue,
        "PAYFLOW_WITHDRAWAL_TASK_QUEUE": f"{queue}-withdrawals",
        "PAYFLOW_GATEWAY_PORT": str(gateway_port),
        "PAYFLOW_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
        "PAYFLOW_SANDBOX_PORT": str(free_port()),
    }
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "payflow.cli", "dev", "--reset"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        async def output() -> str:
            assert process.poll() is None, log.read_text()
            return log.read_text()

        text = await eventually(output, lambda text: "payflow is running" in text, timeout=60)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        stop_process(process)

    assert text.splitlines()[0] == f"reset: removed {state / 'sandbox'}"
    assert sorted(p.name for p in (state / "sandbox").iterdir() if p.suffix == ".db") == [
        "passimpay.db",
        "paymentassist.db",
    ]
    assert (state / "sandbox" / "paymentassist.db").read_bytes() != b"old"
    assert (state / "payload-key").read_text() == DEV_KEY
