"""What every benchmark script shares: worker processes, CPU hogs and the verdict lines."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from proc import usage  # bench/ is on sys.path

from payflow.devserver import stop_process
from payflow.workflow_calls import CallBounds

ROOT = Path(__file__).resolve().parents[1]
PATIENT = CallBounds(quick=60.0, slow=900.0)
"""Python API bounds for benches that measure safety under starvation, not latency: a start
or update waits as long as the burst needs instead of answering PaymentUnavailable."""


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python worker.py` as production runs it, allowed the simulators' credentials."""
    env = {**env, "PAYFLOW_INSECURE": "true"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")], env=env, stdout=out, stderr=out, cwd=ROOT
        )


@contextlib.contextmanager
def cpu_hogs(count: int) -> Iterator[int]:
    """`count` busy-loop processes competing for the CPU, stopped (by PID) on exit."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield len(hogs)
    finally:
        for hog in hogs:
            stop_process(hog, grace=2)


def verdict(checks: dict[str, bool], logs: Path) -> bool:
    """Print one PASS/FAIL line per check and where the worker logs are; True if all passed."""
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    print(f"worker logs         {logs}")
    sys.stdout.flush()
    return all(checks.values())


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux `/proc`; 0 where unreadable)."""
    try:
        return usage(pid).cpu
    except OSError:
        return 0.0


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy so far, all processes (Linux)."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    except OSError:
        return 0.0
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def cores() -> int:
    """Cores of this machine, for hogs on every one."""
    return os.cpu_count() or 1
