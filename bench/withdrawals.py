"""Benchmark: N payouts at once through two worker processes, measured at the simulator.

    python bench/withdrawals.py --count 100 [--stress] [--lose-ratio 0.2 --kill-one-worker]

Starts its own Temporal dev server, the sandboxes and two `python worker.py` processes, then
submits every payout at once through the Python API and waits until all have ended. Reports
the sustained rate the simulator saw ((n - 1) / (last - first withdraw request)), the gaps
between withdraw requests (min / median / max), rate-limit violations and payouts per order,
and compares the rate with a naive single sender measured first in the same process (one
request 1.0 s after every reply: the best any client can do that never breaks the limit).

`--stress` runs a CPU hog on every core for the whole run and freezes one worker with SIGSTOP
for 2 s once a third of the payouts were sent. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from harness import PATIENT, cores, cpu_hogs, start_worker, verdict  # bench/ is on sys.path
from ledger_setup import embedded_ledger
from temporalio.client import Client

from payflow.devserver import DevServer, start_dev_server, stop_process
from payflow.stack import RunningSandbox, running_sandbox
from payflow.temporal_client import connect
from payflow.withdrawals import PassimpayWithdrawals
from providers.passimpay import WithdrawRequest
from sandbox.passimpay import PassimpaySandbox
from state.passimpay_withdrawal_models import (
    WithdrawalRequest,
    WithdrawalTiming,
    WithdrawalView,
)
from worker import passimpay_client
from workflows.passimpay_withdrawal import PassimpayWithdrawal, withdrawal_workflow_id

TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
USDT_TRC20 = 70
WITHDRAW = "/v2/withdraw"
MIN_RATE = 0.9
PAUSE_SECONDS = 2.0
BASELINE_CALLS = 5
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Figures:
    """What the simulator saw of one run."""

    sends: int
    rate: float
    gaps: list[float]

    @property
    def min_gap(self) -> float | None:
        return min(self.gaps) if self.gaps else None

    def gap_summary(self) -> str:
        if not self.gaps:
            return "-"
        median = statistics.median(self.gaps)
        return f"{min(self.gaps):.3f} / {median:.3f} / {max(self.gaps):.3f} s"


def figures(calls: list[float]) -> Figures:
    """Rate and gaps of a run of withdraw requests (simulator clock)."""
    gaps = [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]
    span = calls[-1] - calls[0] if len(calls) > 1 else 0.0
    rate = (len(calls) - 1) / span if span > 0 else 0.0
    return Figures(len(calls), rate, gaps)


async def pause_when(
    sim: PassimpaySandbox, first: int, sends: int, worker: subprocess.Popen[bytes]
) -> float:
    """Freeze `worker` (SIGSTOP) for `PAUSE_SECONDS` once the run has sent `sends` requests."""
    await sent(sim, first, sends)
    worker.send_signal(signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        await asyncio.sleep(PAUSE_SECONDS)
    finally:
        worker.send_signal(signal.SIGCONT)
    return paused_at


async def naive_baseline(sandbox: RunningSandbox, run: str) -> Figures:
    """One sender that waits 1.0 s after every reply: compliant, and as fast as compliance gets."""
    sim = sandbox.passimpay
    first = len(sim.withdraw_calls)
    async with passimpay_client(sandbox.passimpay_settings()) as client:
        for index in range(BASELINE_CALLS):
            if index:
                await asyncio.sleep(1.0)
            order = WithdrawRequest(
                payment_id=USDT_TRC20,
                address_to=TRON,
                amount=Decimal(1),
                order_id=f"baseline-{run}-{index}",
            )
            await client.withdraw(order)
    return figures(sim.withdraw_calls[first:])


def worker_env(
    server: DevServer, sandbox: RunningSandbox, task_queue: str, database_url: str
) -> dict[str, str]:
    settings = sandbox.passimpay_settings()
    return {
        **os.environ,
        "PAYFLOW_DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": server.address,
        "PAYFLOW_TASK_QUEUE": task_queue,
        "PASSIMPAY_API_URL": settings.api_url,
        "PASSIMPAY_PLATFORM_ID": str(settings.platform_id),
        "PASSIMPAY_API_KEY": settings.api_key.get_secret_value(),
        "PASSIMPAY_TIMEOUT_SECONDS": "10",
    }


async def sent(sim: PassimpaySandbox, first: int, sends: int) -> None:
    """Return once the run has sent `sends` withdraw requests."""
    while True:
        if len(sim.withdraw_calls) - first >= sends:
            return
        await asyncio.sleep(0.05)


async def kill_when(
    sim: PassimpaySandbox, first: int, sends: int, worker: subprocess.Popen[bytes]
) -> float:
    """SIGKILL `worker` once the run has sent `sends` withdraw requests; returns when."""
    await sent(sim, first, sends)
    worker.send_signal(signal.SIGKILL)
    return time.monotonic()


async def wait_all(
    client: Client, order_ids: list[str], timeout: float
) -> tuple[list[WithdrawalView], Counter[str]]:
    """The views of the payouts that ended, and every final (or current) status.

    Waits on workflow results rather than queries: a query to a workflow still cached by the
    killed worker waits for its sticky queue to time out.
    """
    handles = [
        client.get_workflow_handle_for(PassimpayWithdrawal.run, withdrawal_workflow_id(order_id))
        for order_id in order_ids
    ]
    results = [asyncio.ensure_future(handle.result()) for handle in handles]
    await asyncio.wait(results, timeout=timeout)
    views = [result.result() for result in results if result.done() and not result.exception()]
    statuses = Counter(view.status for view in views)
    for handle, result in zip(handles, results, strict=True):
        if not result.done() or result.exception():
            result.cancel()
            attributes = (await handle.describe()).search_attributes
            statuses[f"open:{attributes.get('PaymentStatus', ['?'])[0]}"] += 1
    return views, statuses


async def bench(count: int, lose_ratio: float, kill_one_worker: bool, stress: bool) -> bool:
    run = uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix="payflow-bench-"))
    async with start_dev_server() as server, running_sandbox() as sandbox:
        with cpu_hogs(cores() if stress else 0) as hogs:
            return await measure(
                server, sandbox, run, logs, count, lose_ratio, kill_one_worker, hogs
            )


async def measure(
    server: DevServer,
    sandbox: RunningSandbox,
    run: str,
    logs: Path,
    count: int,
    lose_ratio: float,
    kill_one_worker: bool,
    hogs: int,
) -> bool:
    """One baseline, then the payouts, measured at the simulator."""
    sim = sandbox.passimpay
    sim.withdraw_settle_seconds = SETTLE_SECONDS
    baseline = await naive_baseline(sandbox, run)

    task_queue = f"bench-{run}"
    env = worker_env(server, sandbox, task_queue, embedded_ledger())
    workers = [start_worker(env, logs / f"worker-{index}.log") for index in range(2)]
    client = await connect(server.address)
    withdrawals = PassimpayWithdrawals(client, task_queue=task_queue, bounds=PATIENT)
    if lose_ratio:
        sim.faults.lose_response_ratio(WITHDRAW, lose_ratio, seed=1)
    timing = WithdrawalTiming(active_poll_seconds=1.0, idle_poll_seconds=5.0)
    requests = [
        WithdrawalRequest(
            order_id=f"bench-{run}-{index:04d}",
            payment_id=USDT_TRC20,
            address_to=TRON,
            amount=Decimal("10.5"),
            timing=timing,
            late_callback_window_seconds=0,
        )
        for index in range(count)
    ]
    first = len(sim.withdraw_calls)
    killer = (
        asyncio.create_task(kill_when(sim, first, max(count // 3, 1), workers[0]))
        if kill_one_worker
        else None
    )
    pauser = (
        asyncio.create_task(pause_when(sim, first, max(count // 3, 1), workers[-1]))
        if hogs
        else None
    )
    started = time.monotonic()
    try:
        await asyncio.gather(*(withdrawals.request(request) for request in requests))
        views, statuses = await wait_all(
            client, [r.order_id for r in requests], timeout=count * 3 + 120
        )
    finally:
        for worker in workers:
            stop_process(worker)
    elapsed = time.monotonic() - started
    if killer is not None and not killer.done():
        killer.cancel()
    killed_at = killer.result() - started if killer and killer.done() else None
    if pauser is not None and not pauser.done():
        pauser.cancel()
    paused_at = pauser.result() - started if pauser and pauser.done() else None

    run_calls = sim.withdraw_calls[first:]
    measured = figures(run_calls)
    payouts = Counter(sim.payouts[request.order_id] for request in requests)
    ratio = measured.rate / baseline.rate if baseline.rate else 0.0
    checks = {
        f"sustained rate >= {MIN_RATE}/s (quiet runs)": (
            measured.rate >= MIN_RATE or bool(hogs or lose_ratio or kill_one_worker)
        ),
        "smallest gap >= 1.0 s": measured.min_gap is not None and measured.min_gap >= 1.0,
        "no rate-limit violation": sim.violations == 0,
        "exactly one payout per order": set(payouts) == {1},
        "every payout paid": statuses == Counter({"paid": count}),
    }
    print(f"withdrawals         {count} (lose ratio {lose_ratio}, kill one worker: "
          f"{kill_one_worker}{f' at +{killed_at:.1f} s' if killed_at else ''})")  # fmt: skip
    print(f"stress              {hogs} CPU hogs"
          + (f", one worker frozen {PAUSE_SECONDS:.0f} s at +{paused_at:.1f} s"
             if paused_at is not None else ""))  # fmt: skip
    print(f"wall time           {elapsed:.1f} s")
    print(f"withdraw requests   {measured.sends} "
          f"(turns given up unsent {sum(v.not_sent for v in views)}, "
          f"ambiguous rounds {sum(v.ambiguous_rounds for v in views)})")  # fmt: skip
    print(f"sustained rate      {measured.rate:.3f} withdrawals/s at the simulator")
    print(f"gaps min/med/max    {measured.gap_summary()}")
    print(f"violations          {sim.violations}")
    print(f"payouts per order   {dict(sorted(payouts.items()))} (payouts: orders)")
    print(f"final statuses      {dict(statuses)}")
    print(f"naive baseline      {baseline.rate:.3f}/s over {baseline.sends} requests, "
          f"gaps {baseline.gap_summary()}")  # fmt: skip
    print(f"ratio to baseline   {ratio:.3f}")
    return verdict(checks, logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--lose-ratio", type=float, default=0.0)
    parser.add_argument("--kill-one-worker", action="store_true")
    parser.add_argument("--stress", action="store_true", help="CPU hogs and a 2 s SIGSTOP")
    args = parser.parse_args()
    ok = asyncio.run(bench(args.count, args.lose_ratio, args.kill_one_worker, args.stress))
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # sdk-python#300: exit explicitly after Temporal work


if __name__ == "__main__":
    main()
