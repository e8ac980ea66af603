"""`payflow worker` and `payflow gateway` refuse a ledger whose schema is not this code's, with
one line naming the command to run, whatever PAYFLOW_INSECURE says; `payflow db upgrade` brings
an empty database and one a revision behind to the code's schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.migrate import head_revision, upgrade
from ledger.store import Ledger
from payflow.http_server import free_port
from tests.payload_keys import PAYLOAD_KEYS_ENV
from tests.test_cli_ports import run

UPGRADE = "run `payflow db upgrade`"


@pytest.mark.parametrize("command", ["worker", "gateway"])
async def test_a_process_refuses_a_ledger_behind_this_code(tmp_path: Path, command: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    settings = {
        "PAYFLOW_DATABASE_URL": url,
        "PAYFLOW_INSECURE": "true",  # opens the API and allows the sandbox; never this
        "PAYFLOW_PAYLOAD_KEYS": PAYLOAD_KEYS_ENV,
        "PAYFLOW_GATEWAY_PORT": free_port(),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    empty = run(tmp_path, command, **settings)
    assert empty.returncode == 1
    assert empty.stderr.strip().splitlines()[-1] == (
        f"refusing to start: the ledger database has no schema: {UPGRADE}"
    )
    ledger = Ledger.connect(url)
    try:
        await upgrade(ledger.engine, "0001")
    finally:
        await ledger.close()
    behind = run(tmp_path, command, **settings)
    assert behind.returncode == 1
    assert behind.stderr.strip().splitlines()[-1] == (
        f"refusing to start: the ledger database is at revision 0001, behind {head_revision()}: "
        f"{UPGRADE}"
    )
    upgraded = run(tmp_path, "db", "upgrade", **settings)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip().endswith(f"0001 -> {head_revision()}")
    status = run(tmp_path, "db", "status", **settings)
    assert status.returncode == 0 and head_revision() in status.stdout
