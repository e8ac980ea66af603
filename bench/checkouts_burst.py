"""Benchmark: N Payment Assist checkouts started at once, approved, counted at the simulator.

    python bench/checkouts_burst.py --count 1000 [--workers 1] [--hog 2]

Starts its own Temporal dev server, the sandboxes and the gateway in this process and
`python worker.py` processes beside it, then starts every checkout at the same moment through
the Python API (`PaymentAssistCheckouts.start`). Each customer approves on the simulator as soon
as their checkout has its token; the lender's webhook reaches the gateway, and the workflow
confirms with `/status`. Reports how many checkouts ended in `needs_attention` (must be 0), the
`/begin` requests per order the simulator received (every order exactly 1), completions and
wall time. `--hog N` keeps N busy-loop processes running for the whole burst (killed by PID at
the end). Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from harness import PATIENT, cpu_hogs, start_worker, verdict  # bench/ is on sys.path
from ledger_setup import embedded_ledger
from temporalio.client import Client

from payflow.checkouts import PaymentAssistCheckouts
from payflow.devserver import DevServer, start_dev_server, stop_process
from payflow.http_server import free_port
from payflow.settings import PayflowSettings
from payflow.stack import RunningSandbox, running_gateway, running_sandbox
from payflow.temporal_client import connect
from state.checkout_models import CheckoutRequest, CheckoutView, Customer

SETTLED = frozenset({"completed", "needs_attention", "failed", "expired", "cancelled", "declined"})
CUSTOMER = Customer(
    email="ada@example.com", f_name="Ada", s_name="Lovelace", addr1="1 Way", postcode="AB1 2CD"
)


def worker_env(
    server: DevServer, sandbox: RunningSandbox, task_queue: str, database_url: str
) -> dict[str, str]:
    settings = sandbox.paymentassist_settings()
    return {
        **os.environ,
        "PAYFLOW_DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": server.address,
        "PAYFLOW_TASK_QUEUE": task_queue,
        "PAYFLOW_WITHDRAWAL_TASK_QUEUE": f"{task_queue}-gate",
        "PAYMENTASSIST_API_URL": settings.api_url,
        "PAYMENTASSIST_API_KEY": settings.api_key,
        "PAYMENTASSIST_API_SECRET": settings.api_secret.get_secret_value(),
        "PASSIMPAY_API_URL": sandbox.passimpay_url,
    }


async def start_and_approve(
    checkouts: PaymentAssistCheckouts, sandbox: RunningSandbox, request: CheckoutRequest
) -> tuple[float, str | None]:
    """One merchant call, then the customer's approval; the start latency and any error."""
    began = time.monotonic()
    try:
        started = await checkouts.start(request)
    except Exception as error:  # noqa: BLE001 - every failure is a figure of the run
        return time.monotonic() - began, f"{type(error).__name__}: {error}"
    latency = time.monotonic() - began
    await sandbox.paymentassist.decide(started.token, "approve")
    return latency, None


async def settled_count(client: Client, task_queue: str) -> int:
    """Checkouts of this run whose status no longer moves without an operator."""
    statuses = " OR ".join(f'PaymentStatus="{status}"' for status in sorted(SETTLED))
    types = 'WorkflowType IN ("PaymentAssistCheckout", "PaymentAssistCheckoutV2", "PaymentAssistCheckoutV3")'
    query = f'TaskQueue="{task_queue}" AND {types} AND ({statuses})'
    return (await client.count_workflows(query)).count


async def wait_settled(client: Client, task_queue: str, count: int, timeout: float) -> None:
    """Until every checkout settled (visibility lags a little) or about `timeout` seconds."""
    for _ in range(max(int(timeout), 1)):
        if await settled_count(client, task_queue) >= count:
            return
        await asyncio.sleep(1.0)


async def views(checkouts: PaymentAssistCheckouts, order_ids: list[str]) -> list[CheckoutView]:
    """Every checkout's final view, a few queries at a time."""
    limit = asyncio.Semaphore(50)

    async def one(order_id: str) -> CheckoutView:
        async with limit:
            return await checkouts.get(order_id)

    return await asyncio.gather(*(one(order_id) for order_id in order_ids))


async def bench(count: int, workers: int, hogs: int, timeout: float) -> bool:
    run = uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix="payflow-burst-"))
    port = free_port()
    settings = PayflowSettings(
        task_queue=f"burst-{run}",
        withdrawal_task_queue=f"burst-{run}-gate",
        public_url=f"http://127.0.0.1:{port}",
        gateway_port=port,
        database_url=embedded_ledger(),
    )
    with cpu_hogs(hogs):
        async with start_dev_server() as server, running_sandbox() as sandbox:
            client = await connect(server.address)
            env = worker_env(server, sandbox, settings.task_queue, settings.ledger_url())
            processes = [start_worker(env, logs / f"worker-{i}.log") for i in range(workers)]
            async with running_gateway(
                client,
                settings=settings,
                paymentassist=sandbox.paymentassist_settings(),
                passimpay=sandbox.passimpay_settings(),
            ):
                checkouts = PaymentAssistCheckouts(
                    client,
                    task_queue=settings.task_queue,
                    public_url=settings.public_url,
                    bounds=PATIENT,
                )
                requests = [
                    CheckoutRequest(
                        order_id=f"burst-{run}-{index:05d}", amount=49_900, customer=CUSTOMER
                    )
                    for index in range(count)
                ]
                started_at = time.monotonic()
                outcomes = await asyncio.gather(
                    *(start_and_approve(checkouts, sandbox, r) for r in requests)
                )
                starts_done = time.monotonic() - started_at
                await wait_settled(client, settings.task_queue, count, timeout)
                elapsed = time.monotonic() - started_at
                final = await views(checkouts, [r.order_id for r in requests])
            for process in processes:
                stop_process(process)
            sim = sandbox.paymentassist
            begins = Counter(sim.begins_by_order[r.order_id] for r in requests)

    statuses = Counter(view.status for view in final)
    flagged = sum(view.needs_attention for view in final)
    errors = Counter(error.split(":")[0] for _, error in outcomes if error)
    latencies = sorted(latency for latency, _ in outcomes)
    duplicates = sum(orders for sent, orders in begins.items() if sent > 1)
    checks = {
        "no checkout in needs_attention": statuses["needs_attention"] == 0 and flagged == 0,
        "no duplicate /begin for any order": duplicates == 0,
        "every checkout completed": statuses == Counter({"completed": count}),
    }
    print(f"checkouts           {count} started at once ({workers} worker process(es), "
          f"{hogs} CPU hog(s), {os.cpu_count()} cores)")  # fmt: skip
    print(f"wall time           {elapsed:.1f} s (all starts answered after {starts_done:.1f} s)")
    print(f"start latency       p50 {statistics.median(latencies):.2f} s, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} s, max {latencies[-1]:.2f} s")  # fmt: skip
    print(f"final statuses      {dict(statuses)}")
    print(f"needs_attention     {statuses['needs_attention']} (NeedsAttention flag on {flagged})")
    print(f"/begin per order    {dict(sorted(begins.items()))} (requests: orders)")
    print(f"start errors        {dict(errors) or 0}")
    for view in [v for v in final if v.status == "needs_attention"][:5]:
        print(f"  {view.order_id}: {view.attention_reason}")
    print(f"simulator calls     {dict(sim.calls)}")
    return verdict(checks, logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--hog", type=int, default=0, help="busy-loop processes during the run")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for all")
    args = parser.parse_args()
    ok = asyncio.run(bench(args.count, args.workers, args.hog, args.timeout))
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # sdk-python#300: exit explicitly after Temporal work


if __name__ == "__main__":
    main()
