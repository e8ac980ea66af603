"""A port that is taken stops `payflow dev` and `payflow gateway` with one line naming the
setting that moves it: no traceback, nothing started, a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from payflow.http_server import free_port

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from payflow.cli import main; main()"]
OWN_PREFIXES = ("PAYFLOW_", "TEMPORAL_", "PAYMENTASSIST_", "PASSIMPAY_")


@pytest.fixture
def taken() -> Iterator[int]:
    """A port held by a listening socket on 127.0.0.1 for the test's length."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(tmp_path: Path, *args: str, **settings: int | str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update({key: str(value) for key, value in settings.items()})
    env.update(PYTHONPATH=str(ROOT), PAYFLOW_STATE_DIR=str(tmp_path / "state"))
    return subprocess.run(
        [*CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "setting",
    [
        "PAYFLOW_GATEWAY_PORT",
        "PAYFLOW_TEMPORAL_PORT",
        "PAYFLOW_TEMPORAL_UI_PORT",
        "PAYFLOW_SANDBOX_PORT",
    ],
)
def test_dev_names_the_setting_of_a_taken_port(tmp_path: Path, taken: int, setting: str) -> None:
    ports = {
        name: free_port()
        for name in (
            "PAYFLOW_GATEWAY_PORT",
            "PAYFLOW_TEMPORAL_PORT",
            "PAYFLOW_TEMPORAL_UI_PORT",
            "PAYFLOW_SANDBOX_PORT",
        )
    }
    result = run(tmp_path, "dev", **{**ports, setting: taken})
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {taken}" in lines[0] and f"set {setting}" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "temporal.db").exists()  # no dev server was started


def test_gateway_names_its_port_setting(tmp_path: Path, taken: int) -> None:
    result = run(
        tmp_path,
        "gateway",
        PAYFLOW_GATEWAY_PORT=taken,
        PAYFLOW_INSECURE="true",  # sandbox credentials, no tokens: warned about, not refused
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("(or stop what is using it)")
    assert f"port {taken}" in result.stderr and "set PAYFLOW_GATEWAY_PORT" in result.stderr
