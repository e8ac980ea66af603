"""Benchmark: Payment Assist checkouts as deployed against a bare-Temporal floor of the same shape.

    python bench/checkouts.py --count 300 --rounds 3 [--database sqlite|postgresql]
        [--gateways 2] [--idle 1000] [--hog 2]

Starts a Temporal dev server (serving /metrics) and the simulators in this process, `payflow
worker` and `payflow gateway` in their own processes as production runs them (bench/deployed.py:
own credentials, tokens, sealed payloads, the ledger on), and a bare worker (`bench/bare.py`),
each kind on its own task queue. Each round runs N payflow checkouts and N `BareCheckout`s at
once, in alternating order:

- payflow: the merchant's backend starts it with `POST /v1/checkouts`; the customer approves on
  the simulator, whose signed webhook reaches the gateway; the customer comes back through the
  signed return (with `--gateways 2`, to a replica that did not start it) while the merchant's
  backend waits for the workflow's result;
- bare: update-with-start, its `/begin` and `/status` activities making the same signed requests
  to the simulator; the customer approves the same way, and this process signals the workflow.

Prints completed/s of each and their ratio (min / median / max over rounds), CPU per flow of
each process, completion p50, provider calls per checkout against the minimum, Temporal's own
request counts per flow (bench/server_metrics.py) and how many did not complete. `--idle K`
then measures worker RSS and idle CPU with K open flows of each kind (bench/idle.py). Exits 1
when a line fails; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bare import BareCheckout  # bench/ is on sys.path
from checkouts_burst import worker_env
from deployed import Deployment, deployment, start_deployed_gateway, start_deployed_worker
from harness import ROOT, cpu_hogs, start_worker, verdict
from idle import IdleKit, IdleRound, idle_round
from ledger_setup import DATABASES, ledger_database
from proc import Usage, own_usage, usage
from server_metrics import metrics_args, per_flow, scrape, table
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from ledger.store import Ledger
from payflow.checkouts import PaymentAssistCheckouts
from payflow.devserver import DevServer, start_dev_server, stop_process
from payflow.http_server import free_port
from payflow.settings import PayflowSettings
from payflow.stack import RunningSandbox, running_sandbox
from payflow.temporal_client import connect
from state.checkout_models import CheckoutRequest, CheckoutTiming, Customer
from workflows.paymentassist_checkout import checkout_workflow_id

CUSTOMER = Customer(
    email="ada@example.com", f_name="Ada", s_name="Lovelace", addr1="1 Way", postcode="AB1 2CD"
)
MIN_PROVIDER_CALLS = 2
"""`/begin` and one `/status`: what any checkout confirmed by its provider must cost."""
RATIO_FLOOR = 0.8
CPU_CEILING = 1.3
RSS_CEILING = 1.3
P50_CEILING = 1.5
IDLE_CEILING = 0.10
METRICS_SETTLE = 2.0
"""Seconds for the dev server to report a round's last requests before they are read."""
BATCH_TIMEOUT = 300.0
"""A flow not ended by then counts as not completed (the run goes on)."""


@dataclass
class Round:
    """One batch of one kind: its rate and what each process spent per flow."""

    rate: float
    cpu_per_flow: dict[str, float]
    not_completed: int
    provider_calls: int = 0
    p50: float = 0.0
    """Seconds from the batch's start until half of its flows had ended."""
    actions: dict[str, float] = field(default_factory=dict)
    """Temporal's own counts per flow (bench/server_metrics.py)."""


@dataclass
class Tally:
    """Every round of one kind."""

    rounds: list[Round] = field(default_factory=list)

    def series(self, pick: Callable[[Round], float]) -> list[float]:
        return [pick(r) for r in self.rounds]


class Processes:
    """The processes whose CPU is counted, by name."""

    def __init__(
        self, server: DevServer, payflow: int, bare: int, gateways: Sequence[int] = ()
    ) -> None:
        self.pids = {
            "dev server": server.process.pid,
            "payflow worker": payflow,
            "bare worker": bare,
        }
        self.gateways = list(gateways)

    def read(self) -> dict[str, Usage]:
        readings = {name: usage(pid) for name, pid in self.pids.items()}
        if self.gateways:  # every replica together
            each = [usage(pid) for pid in self.gateways]
            readings["payflow gateway(s)"] = Usage(
                sum(u.cpu for u in each), sum(u.rss for u in each)
            )
        readings["bench (clients, sandbox)"] = own_usage()
        return readings


def spent(before: dict[str, Usage], after: dict[str, Usage], flows: int) -> dict[str, float]:
    return {name: (after[name].cpu - before[name].cpu) / flows for name in before}


def checkout_request(order_id: str) -> CheckoutRequest:
    return CheckoutRequest(
        order_id=order_id,
        amount=49_900,
        customer=CUSTOMER,
        timing=CheckoutTiming(invoice_watch_seconds=0),
    )


class HttpSlots:
    """HTTP requests of one party, at most `connections` in flight (httpx's pool scans every
    queued request for every free connection, so a queue of 300 would make this process, not
    payflow, the bottleneck)."""

    def __init__(self, http: httpx.AsyncClient, connections: int) -> None:
        self.http = http
        self._slots = asyncio.Semaphore(connections)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async with self._slots:
            return await self.http.request(method, url, **kwargs)


@dataclass(frozen=True)
class Parties:
    """The merchant's backend (its own connection pool) and the customers' browsers (each its
    own; bounded here only so the bench's HTTP client stays cheap)."""

    merchant: HttpSlots
    customers: HttpSlots


async def one_checkout(
    client: Client,
    parties: Parties,
    deployed: Deployment,
    sandbox: RunningSandbox,
    order_id: str,
    return_to: str | None = None,
) -> str:
    """The merchant's backend starts it over HTTP with its token, the customer approves at
    the lender and comes back through the gateway's signed return (the lender's webhook reaches
    the gateway too); then the workflow's end. Its final status.

    `return_to`: the URL of another gateway replica, which did not start the checkout, where
    the customer's return lands."""
    body = checkout_request(order_id).model_dump(mode="json")
    started = await parties.merchant.request(
        "POST", f"{deployed.gateway_url}/v1/checkouts", json=body, headers=deployed.merchant
    )
    if started.status_code != 201:
        return f"start answered {started.status_code}"
    redirect = await sandbox.paymentassist.decide(started.json()["token"], "approve")
    if return_to is not None:
        redirect = redirect.replace(deployed.gateway_url, return_to, 1)
    # the customer's page and the merchant's backend wait for the outcome independently
    returned, view = await asyncio.gather(
        parties.customers.request("GET", redirect),
        client.get_workflow_handle(checkout_workflow_id(order_id)).result(),
    )
    if returned.status_code >= 400:
        return f"return answered {returned.status_code}"
    return str(view["status"] if isinstance(view, dict) else view.status)


async def start_bare(
    client: Client, task_queue: str, order_id: str
) -> tuple[str, WithStartWorkflowOperation[BareCheckout, str]]:
    """Update-with-start of a bare flow: its token once `begin` ran, and its start."""
    operation = WithStartWorkflowOperation(
        BareCheckout.run,
        order_id,
        id=f"bare:{order_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    token = await client.execute_update_with_start_workflow(
        BareCheckout.begin, start_workflow_operation=operation
    )
    return token, operation


async def one_bare(client: Client, sandbox: RunningSandbox, task_queue: str, order_id: str) -> str:
    """The same shape on bare Temporal: update-with-start, the customer approves, one signal
    (sent here: no webhook, no gateway), the result."""
    token, operation = await start_bare(client, task_queue, order_id)
    await sandbox.paymentassist.decide(token, "approve")
    handle = await operation.workflow_handle()
    await handle.signal(BareCheckout.hint)
    return await handle.result()


@dataclass
class Batch:
    """N flows run at once: completed per second, final statuses, each flow's seconds."""

    rate: float
    statuses: Counter[str]
    seconds: list[float]


async def timed_batch(count: int, one: Callable[[str], Awaitable[str]], prefix: str) -> Batch:
    """Run `count` flows at once."""
    began = time.monotonic()
    seconds: list[float] = []

    async def timed(order_id: str) -> str:
        status = await asyncio.wait_for(one(order_id), BATCH_TIMEOUT)
        seconds.append(time.monotonic() - began)
        return status

    results = await asyncio.gather(
        *(timed(f"{prefix}-{i:05d}") for i in range(count)), return_exceptions=True
    )
    elapsed = time.monotonic() - began
    statuses = Counter(r if isinstance(r, str) else f"error {type(r).__name__}" for r in results)
    return Batch(statuses["completed"] / elapsed, statuses, seconds)


async def history_length(client: Client, workflow_id: str) -> int:
    """Events in one finished flow's history."""
    handle = client.get_workflow_handle(workflow_id)
    return len([event async for event in handle.fetch_history_events()])


def spread(values: list[float], digits: int = 2) -> str:
    """min / median / max."""
    return " / ".join(
        f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


def idle_line(figures: IdleRound) -> str:
    """One idle round's RSS per open workflow of each worker, at both readings."""
    return "  ".join(
        f"{reading} {values['payflow worker'] / 1024:.0f} vs {values['bare worker'] / 1024:.0f}"
        for reading, values in (("opened", figures.opened), ("polled", figures.polled))
    )


def idle_kit(
    server: DevServer,
    sandbox: RunningSandbox,
    client: Client,
    bare_client: Client,
    settings: PayflowSettings,
    run: str,
    logs: Path,
    deployed: Deployment,
    ledger: Ledger,
) -> IdleKit:
    """Fresh workers on queues of their own per idle round, and how to open flows there."""

    def queue(index: int) -> str:
        return f"idle-{run}-{index}"

    def start_workers(index: int) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
        env = worker_env(server, sandbox, queue(index), settings.ledger_url())
        ours = {**deployed.env, "PAYFLOW_TASK_QUEUE": queue(index)}
        return (
            start_worker(ours, logs / f"idle-{index}-payflow-worker.log"),
            start_bare_worker(
                {**env, "PAYFLOW_TASK_QUEUE": f"bare-{queue(index)}"},
                logs / f"idle-{index}-bare-worker.log",
            ),
        )

    def read(
        payflow_worker: subprocess.Popen[bytes], bare_worker: subprocess.Popen[bytes]
    ) -> dict[str, Usage]:
        return Processes(server, payflow_worker.pid, bare_worker.pid).read()

    checkouts: dict[int, PaymentAssistCheckouts] = {}

    async def open_payflow(index: int, order_id: str) -> str:
        if index not in checkouts:
            checkouts[index] = PaymentAssistCheckouts(
                client, task_queue=queue(index), public_url=settings.public_url, ledger=ledger
            )
        request = checkout_request(f"payflow-{order_id}-{run}")
        await checkouts[index].start(request)
        return checkout_workflow_id(request.order_id)

    async def open_bare(index: int, order_id: str) -> str:
        await start_bare(bare_client, f"bare-{queue(index)}", f"bare-{order_id}-{run}")
        return f"bare:bare-{order_id}-{run}"

    return IdleKit(
        start_workers=start_workers,
        read=read,
        open_payflow=open_payflow,
        open_bare=open_bare,
        status_calls=lambda: sandbox.paymentassist.calls["status"],
        client=client,
        first_poll_seconds=CheckoutTiming().active_poll_seconds,
    )


def start_bare_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare.py")],
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )


async def bench(args: argparse.Namespace) -> bool:
    run = uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix="payflow-checkouts-"))
    port = free_port()
    settings = PayflowSettings(
        task_queue=f"bench-{run}",
        withdrawal_task_queue=f"bench-{run}-gate",
        public_url=f"http://127.0.0.1:{port}",
        gateway_port=port,
    )
    bare_queue = f"bare-{run}"
    payflow = Tally()
    bare = Tally()
    idle: list[IdleRound] = []
    limits = httpx.Limits(max_connections=2 * args.connections, max_keepalive_connections=64)
    metrics_port = free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    with cpu_hogs(args.hog):
        async with (
            start_dev_server(extra_args=metrics_args(metrics_port)) as server,
            running_sandbox() as sandbox,
            ledger_database(args.database) as database_url,
        ):
            deployed = deployment(server, sandbox, settings.task_queue, database_url, port)
            settings = settings.model_copy(update={"database_url": database_url})
            client = await connect(server.address, codec=deployed.codec)
            env = worker_env(server, sandbox, settings.task_queue, database_url)
            worker = start_deployed_worker(deployed, logs / "payflow-worker.log")
            gateways = [await start_deployed_gateway(deployed, logs / "payflow-gateway.log")]
            replicas = [free_port() for _ in range(args.gateways - 1)]
            for index, replica in enumerate(replicas, start=2):
                log = logs / f"payflow-gateway-{index}.log"
                gateways.append(await start_deployed_gateway(deployed, log, replica))
            return_to = f"http://127.0.0.1:{replicas[0]}" if replicas else None
            bare_worker = start_bare_worker(
                {**env, "PAYFLOW_TASK_QUEUE": bare_queue}, logs / "bare-worker.log"
            )
            gateway_pids = [gateway.pid for gateway in gateways]
            processes = Processes(server, worker.pid, bare_worker.pid, gateway_pids)
            bare_client = await Client.connect(server.address)
            try:
                async with httpx.AsyncClient(limits=limits, timeout=BATCH_TIMEOUT) as http:
                    parties = Parties(
                        merchant=HttpSlots(http, args.connections),
                        customers=HttpSlots(http, args.connections),
                    )

                    async def payflow_one(order_id: str) -> str:
                        return await one_checkout(
                            client, parties, deployed, sandbox, order_id, return_to
                        )

                    async def bare_one(order_id: str) -> str:
                        return await one_bare(bare_client, sandbox, bare_queue, order_id)

                    # warm both workers up (imports, caches) outside the figures
                    await timed_batch(10, payflow_one, f"warm-payflow-{run}")
                    await timed_batch(10, bare_one, f"warm-bare-{run}")
                    for index in range(args.rounds):
                        kinds = [("payflow", payflow_one, payflow), ("bare", bare_one, bare)]
                        for name, one, tally in kinds if index % 2 == 0 else kinds[::-1]:
                            calls = sum(sandbox.paymentassist.calls.values())
                            before, counted = processes.read(), scrape(metrics_url)
                            batch = await timed_batch(args.count, one, f"{name}-{run}-{index}")
                            rate, statuses = batch.rate, batch.statuses
                            after = processes.read()
                            await asyncio.sleep(METRICS_SETTLE)
                            actions = per_flow(counted, scrape(metrics_url), args.count)
                            tally.rounds.append(
                                Round(
                                    rate=rate,
                                    cpu_per_flow=spent(before, after, args.count),
                                    not_completed=args.count - statuses["completed"],
                                    provider_calls=sum(sandbox.paymentassist.calls.values())
                                    - calls,
                                    actions=actions,
                                    p50=statistics.median(batch.seconds or [BATCH_TIMEOUT]),
                                )
                            )
                            print(f"round {index} {name:8} {rate:6.1f}/s  {dict(statuses)}")
                            sys.stdout.flush()
                    last = args.rounds - 1
                    events = {
                        "payflow": await history_length(
                            client, checkout_workflow_id(f"payflow-{run}-{last}-00000")
                        ),
                        "bare": await history_length(bare_client, f"bare:bare-{run}-{last}-00000"),
                    }
                    ledger = Ledger.connect(database_url)
                    kit = idle_kit(
                        server, sandbox, client, bare_client, settings, run, logs, deployed, ledger
                    )
                    if args.idle:
                        for gateway in gateways:  # idle rounds open checkouts from here
                            stop_process(gateway)
                    for index in range(args.idle_rounds if args.idle else 0):
                        last = index == args.idle_rounds - 1
                        cpu_window = (args.settle, args.window) if last else None
                        idle.append(await idle_round(kit, index, args.idle, args.pace, cpu_window))
                        print(f"idle round {index}  RSS per open (KiB) {idle_line(idle[-1])}")
                        sys.stdout.flush()
            finally:
                stop_process(worker)
                for gateway in gateways:
                    stop_process(gateway)
                stop_process(bare_worker)

    rates = [p.rate / b.rate for p, b in zip(payflow.rounds, bare.rounds, strict=True)]
    worker_cpu = [
        p.cpu_per_flow["payflow worker"] / b.cpu_per_flow["bare worker"]
        for p, b in zip(payflow.rounds, bare.rounds, strict=True)
    ]
    server_cpu = [
        p.cpu_per_flow["dev server"] / b.cpu_per_flow["dev server"]
        for p, b in zip(payflow.rounds, bare.rounds, strict=True)
    ]
    call_ratios = [r.provider_calls / args.count / MIN_PROVIDER_CALLS for r in payflow.rounds]
    not_completed = sum(r.not_completed for r in payflow.rounds)
    print()
    print(f"flows per round     {args.count} of each kind, {args.rounds} rounds interleaved, "
          f"{args.hog} CPU hog(s), {os.cpu_count()} cores, ledger on {args.database}")  # fmt: skip
    print(f"payflow completed/s {spread(payflow.series(lambda r: r.rate), 1)}")
    print(f"bare completed/s    {spread(bare.series(lambda r: r.rate), 1)}")
    print(f"ratio payflow/bare  {spread(rates)}   (min / median / max)")
    print("CPU ms per flow     payflow round | bare round (min / median / max)")
    for name in payflow.rounds[0].cpu_per_flow:
        ours = [1000 * r.cpu_per_flow[name] for r in payflow.rounds]
        theirs = [1000 * r.cpu_per_flow[name] for r in bare.rounds]
        print(f"  {name:24} {spread(ours, 1)} | {spread(theirs, 1)}")
    print(f"worker CPU ratio    {spread(worker_cpu)}   (payflow worker / bare worker per flow)")
    print(f"dev server CPU ratio {spread(server_cpu)}   (per flow, payflow round / bare round)")
    p50s = [p.p50 / b.p50 for p, b in zip(payflow.rounds, bare.rounds, strict=True)]
    print(f"completion p50 (s)  payflow {spread(payflow.series(lambda r: r.p50), 1)} | bare "
          f"{spread(bare.series(lambda r: r.p50), 1)} | ratio {spread(p50s)}")  # fmt: skip
    print(
        f"provider calls      {spread(call_ratios)} per checkout ÷ minimum ({MIN_PROVIDER_CALLS})"
    )
    print(f"not completed       {not_completed}")
    print(f"history events      payflow {events['payflow']}, bare {events['bare']} (one flow each)")
    print("Temporal per flow   payflow | bare (last round of each)")
    for line in table(payflow.rounds[-1].actions, bare.rounds[-1].actions):
        print(line)
    checks = {
        f"completed/s ÷ bare ≥ {RATIO_FLOOR} (median)": statistics.median(rates) >= RATIO_FLOOR,
        f"worker CPU per flow ÷ bare ≤ {CPU_CEILING} (median)": statistics.median(worker_cpu)
        <= CPU_CEILING,
        f"dev server CPU per flow ÷ bare ≤ {CPU_CEILING} (median)": statistics.median(server_cpu)
        <= CPU_CEILING,
        f"completion p50 ÷ bare ≤ {P50_CEILING} (median)": statistics.median(p50s) <= P50_CEILING,
        "provider calls: exactly the minimum": all(r == 1.0 for r in call_ratios),
        "every checkout completed": not_completed == 0,
    }
    if idle:
        cpu = idle[-1].cpu or {}
        print(f"open workflows      {args.idle} of each, started at {args.pace}/s, "
              f"{args.idle_rounds} rounds, each in fresh workers")  # fmt: skip
        for reading in ("opened", "polled"):
            ours = [getattr(r, reading)["payflow worker"] / 1024 for r in idle]
            theirs = [getattr(r, reading)["bare worker"] / 1024 for r in idle]
            ratios = [o / t for o, t in zip(ours, theirs, strict=True)]
            print(f"RSS per open, {reading}  payflow {spread(ours, 0)} KiB | bare "
                  f"{spread(theirs, 0)} KiB | ratio {spread(ratios)}")  # fmt: skip
            checks[f"worker RSS per open workflow ÷ bare ≤ {RSS_CEILING} ({reading}, median)"] = (
                statistics.median(ratios) <= RSS_CEILING
            )
        print(f"idle CPU ({args.window:.0f} s)     payflow worker {100 * cpu['payflow worker']:.1f} %"
              f" of a core, bare worker {100 * cpu['bare worker']:.1f} %, dev server "
              f"{100 * cpu['dev server']:.1f} %, {cpu['status calls/s']:.1f} /status calls/s, "
              f"from {args.settle:.0f} s after the last was opened")  # fmt: skip
        checks[f"{args.idle} idle checkouts: worker below {IDLE_CEILING:.0%} of a core"] = (
            cpu["payflow worker"] < IDLE_CEILING
        )
    return verdict(checks, logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300, help="flows of each kind per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=int, default=0, help="open this many idle flows after")
    parser.add_argument("--pace", type=float, default=25.0, help="idle flows opened per second")
    parser.add_argument("--idle-rounds", type=int, default=3, help="idle rounds, fresh workers")
    parser.add_argument(
        "--settle", type=float, default=120.0, help="seconds after opening before the window"
    )
    parser.add_argument("--window", type=float, default=180.0, help="idle CPU window, seconds")
    parser.add_argument("--hog", type=int, default=0, help="busy-loop processes during the run")
    parser.add_argument("--database", choices=DATABASES, default="sqlite", help="the ledger")
    parser.add_argument(
        "--gateways",
        type=int,
        default=1,
        help="gateway processes; with 2 or more, each return lands on one that did not start it",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="the merchant's HTTP connections at most, and the customers' requests in flight",
    )
    args = parser.parse_args()
    ok = asyncio.run(bench(args))
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # sdk-python#300: exit explicitly after Temporal work


if __name__ == "__main__":
    main()
