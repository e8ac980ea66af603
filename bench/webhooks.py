"""Benchmark: signed Payment Assist webhooks at a fixed rate, through the gateway and the bare path.

    python bench/webhooks.py [--rates 20,50] [--seconds 20] [--rounds 3] [--workers 1]

Starts its own Temporal dev server, the simulators and the gateway in this process, `python
worker.py` processes and a bare worker (`bench/bare_signal.py`) beside it. Before each phase it opens
as many checkouts as the phase sends webhooks (each approved at the simulator, whose own
webhooks are dropped), then sends one signed `application.completed` webhook per checkout to
the gateway at a fixed rate, open loop: on schedule whatever the answers, each with a client
timeout. A 503 is sent again after its Retry-After, as the lender does (anything else but 200
at most 3 times). For each webhook: every answer's status and latency, and the time from the
accepted send until the checkout's history records `completed` in its `PaymentStatus` search
attribute (a long poll on the server, which the worker never sees; no polling load), confirmed by
the `state` query.

The baseline is interleaved with it, round by round: a bare HTTP route that only signals a
`BareCheckout` workflow, which runs one no-op activity and shows `completed` the same way.
Prints per rate the HTTP latencies, answers within 1 s, 503s with Retry-After, other errors,
lost webhooks (never visible), webhook→visible p50 of both paths and their ratio (min, median,
max over rounds), then PASS/FAIL lines. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bare_signal import COMPLETED, BareCheckout, bare_workflow_id  # bench/ is on sys.path
from checkouts_burst import CUSTOMER, worker_env
from harness import PATIENT, cpu_seconds, machine_busy_seconds, start_worker, verdict
from ledger_setup import embedded_ledger
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from payflow.checkouts import PaymentAssistCheckouts
from payflow.devserver import start_dev_server, stop_process
from payflow.http_server import free_port, serve
from payflow.search_attributes import PAYMENT_STATUS
from payflow.settings import PayflowSettings
from payflow.stack import RunningSandbox, running_gateway, running_sandbox
from payflow.temporal_client import connect
from providers.paymentassist.signing import sign_webhook
from state.checkout_models import CheckoutRequest, CheckoutTiming
from workflows.paymentassist_checkout import checkout_workflow_id

BENCH = Path(__file__).resolve().parent
CLIENT_TIMEOUT = 5.0
ANSWER_WITHIN = 1.0
VISIBLE_TIMEOUT = 60.0
MAX_ATTEMPTS = 30
OTHER_ATTEMPTS = 3
"""The lender's attempts for an answer that is neither 200 nor 503 with Retry-After."""
OTHER_RETRY_DELAY = 1.0
OPENING = 32
"""Checkouts (or bare workflows) opened at once before a phase."""
QUIET = CheckoutTiming(active_poll_seconds=86_400, idle_poll_seconds=86_400)
"""No polling of its own: a checkout moves only on the bench's webhook."""
TARGET_RATIO = 1.5
MERCHANT_TOKEN = "bench-merchant-token-0123456789"


@dataclass(frozen=True)
class Attempt:
    """One HTTP send: its status (None: no answer in time), latency and Retry-After."""

    status: int | None
    seconds: float
    retry_after: float | None

    @property
    def refused_for_now(self) -> bool:
        return self.status == 503 and self.retry_after is not None

    @property
    def answered_in_time(self) -> bool:
        return self.seconds <= ANSWER_WITHIN and (self.status == 200 or self.refused_for_now)


@dataclass
class Delivery:
    """One webhook: every attempt and how long until its effect was visible."""

    order_id: str
    attempts: list[Attempt] = field(default_factory=list)
    visible_after: float | None = None


class Target:
    """A path webhooks go through: opens its orders, sends one, reads the state back."""

    name: str

    def __init__(self, client: Client, url: str) -> None:
        self.client = client
        self.url = url
        self.tokens: dict[str, str] = {}

    async def open(self, order_id: str) -> None:
        raise NotImplementedError

    def workflow_id(self, order_id: str) -> str:
        raise NotImplementedError

    async def confirm(self, order_id: str) -> str:
        raise NotImplementedError

    def request(self, order_id: str) -> tuple[str, dict[str, Any]]:
        """The webhook's URL and signed body (the bare route reads neither)."""
        payload: dict[str, Any] = {
            "event_name": "application.completed",
            "event_data": {"token": self.tokens[order_id]},
            "event_time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        }
        payload["signature"] = sign_webhook(payload, "demo_sandbox_secret")
        return f"{self.url}?order_id={order_id}", payload

    async def completed(self, order_id: str) -> bool:
        """Once the workflow's history records `completed` in its `PaymentStatus` search
        attribute (a long poll on the server, which the worker never sees); False if it closes
        without."""
        handle = self.client.get_workflow_handle(self.workflow_id(order_id))
        read = self.client.data_converter.payload_converter.from_payload
        async for event in handle.fetch_history_events(wait_new_event=True):
            if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                continue
            fields = event.upsert_workflow_search_attributes_event_attributes
            status = fields.search_attributes.indexed_fields.get(PAYMENT_STATUS.name)
            if status is not None and read(status) == COMPLETED:
                return True
        return False


class Payflow(Target):
    """The gateway's webhook route, a checkout per order opened through the merchant API."""

    name = "payflow"

    def __init__(
        self,
        client: Client,
        url: str,
        checkouts: PaymentAssistCheckouts,
        sandbox: RunningSandbox,
        http: httpx.AsyncClient,
    ) -> None:
        super().__init__(client, f"{url}/webhooks/paymentassist")
        self.gateway = url
        self.checkouts = checkouts
        self.sandbox = sandbox
        self.http = http

    async def open(self, order_id: str) -> None:
        request = CheckoutRequest(order_id=order_id, amount=49_900, customer=CUSTOMER, timing=QUIET)
        body = request.model_dump(mode="json")
        headers = {"Authorization": f"Bearer {MERCHANT_TOKEN}"}
        for _ in range(MAX_ATTEMPTS):
            response = await self.http.post(
                f"{self.gateway}/v1/checkouts", json=body, headers=headers, timeout=60
            )
            if response.status_code != 503:
                break
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        response.raise_for_status()
        token = str(response.json()["token"])
        self.sandbox.paymentassist.settle(token, "approve")
        self.tokens[order_id] = token

    def workflow_id(self, order_id: str) -> str:
        return checkout_workflow_id(order_id)

    async def confirm(self, order_id: str) -> str:
        return (await self.checkouts.get(order_id)).status


class Bare(Target):
    """A route that only signals, a workflow that only runs one no-op activity."""

    name = "bare"

    def __init__(self, client: Client, url: str, task_queue: str) -> None:
        super().__init__(client, f"{url}/bare/webhook")
        self.task_queue = task_queue

    async def open(self, order_id: str) -> None:
        token = str(uuid.uuid4())
        await self.client.start_workflow(
            BareCheckout.run, token, id=bare_workflow_id(order_id), task_queue=self.task_queue
        )
        self.tokens[order_id] = token

    def workflow_id(self, order_id: str) -> str:
        return bare_workflow_id(order_id)

    async def confirm(self, order_id: str) -> str:
        handle = self.client.get_workflow_handle_for(BareCheckout.run, self.workflow_id(order_id))
        return await handle.query(BareCheckout.state)


def bare_app(client: Client) -> Starlette:
    """`POST /bare/webhook?order_id=...`: signal the order's bare workflow, verify nothing."""

    async def webhook(request: Request) -> JSONResponse:
        await request.body()
        order_id = request.query_params["order_id"]
        await client.get_workflow_handle(bare_workflow_id(order_id)).signal(BareCheckout.hint)
        return JSONResponse({"status": "accepted"})

    return Starlette(routes=[Route("/bare/webhook", webhook, methods=["POST"])])


async def bounded_all(work: Callable[[str], Awaitable[None]], items: Sequence[str]) -> None:
    """`work` on every item, OPENING at a time."""
    limit = asyncio.Semaphore(OPENING)

    async def one(item: str) -> None:
        async with limit:
            await work(item)

    await asyncio.gather(*(one(item) for item in items))


async def send(http: httpx.AsyncClient, target: Target, order_id: str) -> Delivery:
    """Deliver one webhook as the lender does, then wait for its effect."""
    clock = asyncio.get_running_loop().time
    delivery = Delivery(order_id)
    url, payload = target.request(order_id)
    first = accepted = clock()
    for _ in range(MAX_ATTEMPTS):
        sent = clock()
        status, retry_after = None, None
        try:
            response = await http.post(url, json=payload)
            status = response.status_code
            header = response.headers.get("retry-after")
            retry_after = float(header) if header and header.isdigit() else None
        except httpx.HTTPError:
            pass
        attempt = Attempt(status, clock() - sent, retry_after)
        delivery.attempts.append(attempt)
        if status == 200:
            accepted = sent
            break
        if attempt.refused_for_now and retry_after is not None:
            await asyncio.sleep(retry_after)
        elif sum(not a.refused_for_now for a in delivery.attempts) >= OTHER_ATTEMPTS:
            break
        else:
            await asyncio.sleep(OTHER_RETRY_DELAY)
    since = accepted if delivery.attempts[-1].status == 200 else first
    delivery.visible_after = await visible(target, order_id, since)
    return delivery


async def visible(target: Target, order_id: str, since: float) -> float | None:
    """Seconds from `since` until the state shows `completed`, confirmed by the `state` query;
    None if not within a minute."""
    clock = asyncio.get_running_loop().time
    seen: float | None = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(since + VISIBLE_TIMEOUT - clock()):
            while seen is None:
                try:
                    if not await target.completed(order_id):
                        return None
                    seen = clock()
                except Exception:  # noqa: BLE001 - Temporal busy: read again
                    await asyncio.sleep(0.5)
            while True:  # the query answers from the worker, which may be busy
                with contextlib.suppress(Exception):
                    if await target.confirm(order_id) == COMPLETED:
                        return seen - since
                await asyncio.sleep(0.1)
    return None


async def phase(
    http: httpx.AsyncClient,
    target: Target,
    rate: float,
    seconds: float,
    prefix: str,
    processes: dict[str, int],
) -> list[Delivery]:
    """Open the phase's orders, then send their webhooks at `rate`, open loop; prints the CPU
    each process used while the webhooks were sent and seen."""
    order_ids = [f"{prefix}-{index:05d}" for index in range(int(rate * seconds))]
    await bounded_all(target.open, order_ids)
    await asyncio.sleep(2.0)  # let the openings' own work (token claims) finish first
    loop = asyncio.get_running_loop()
    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    machine_before = machine_busy_seconds()
    began = loop.time()
    tasks = []
    for index, order_id in enumerate(order_ids):
        delay = began + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(http, target, order_id)))
    done = list(await asyncio.gather(*tasks))
    wall = loop.time() - began
    used = ", ".join(
        f"{name} {(cpu_seconds(pid) - cpu_before[name]) / wall:.0%}"
        for name, pid in processes.items()
    )
    machine = (machine_busy_seconds() - machine_before) / wall
    print(f"  cpu over {wall:.1f} s: {used}; whole machine {machine:.0%}", flush=True)
    return done


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank); NaN when there is nothing."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Figures:
    """What one path did at one rate, over every round."""

    deliveries: list[Delivery] = field(default_factory=list)
    round_p50s: list[float] = field(default_factory=list)

    def add(self, deliveries: list[Delivery]) -> None:
        self.deliveries += deliveries
        times = [d.visible_after for d in deliveries if d.visible_after is not None]
        self.round_p50s.append(statistics.median(times) if times else float("nan"))

    @property
    def attempts(self) -> list[Attempt]:
        return [attempt for d in self.deliveries for attempt in d.attempts]

    @property
    def lost(self) -> int:
        return sum(d.visible_after is None for d in self.deliveries)

    def line(self) -> str:
        attempts = self.attempts
        latencies = [a.seconds * 1000 for a in attempts]
        shed = sum(a.refused_for_now for a in attempts)
        other = sum(a.status != 200 and not a.refused_for_now for a in attempts)
        visible = [d.visible_after * 1000 for d in self.deliveries if d.visible_after is not None]
        in_time = sum(a.answered_in_time for a in attempts)
        return (
            f"{len(self.deliveries)} webhooks, {len(attempts)} sends: HTTP p50 "
            f"{quantile(latencies, 0.5):.0f} ms p99 {quantile(latencies, 0.99):.0f} ms max "
            f"{max(latencies, default=0):.0f} ms; answered within 1 s {in_time}/{len(attempts)}; "
            f"503+Retry-After {shed}; other errors {other}; lost {self.lost}; "
            f"webhook→visible p50 {quantile(visible, 0.5):.0f} ms p99 "
            f"{quantile(visible, 0.99):.0f} ms"
        )


def ratios(payflow: Figures, bare: Figures) -> list[float]:
    """payflow ÷ bare webhook→visible p50, round by round."""
    return [p / b for p, b in zip(payflow.round_p50s, bare.round_p50s, strict=True) if b > 0]


def start_bare_worker(address: str, task_queue: str, log: Path) -> subprocess.Popen[bytes]:
    """The bare worker in its own process, as the payflow worker runs in its own."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(BENCH / "bare_signal.py"), address, task_queue],
            stdout=out,
            stderr=out,
            cwd=BENCH,
        )


async def bench(rates: list[float], seconds: float, rounds: int, workers: int) -> bool:
    run = uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix="payflow-webhooks-"))
    port = free_port()
    settings = PayflowSettings(
        task_queue=f"webhooks-{run}",
        withdrawal_task_queue=f"webhooks-{run}-gate",
        public_url=f"http://127.0.0.1:{port}",
        gateway_port=port,
        api_token=SecretStr(MERCHANT_TOKEN),
        database_url=embedded_ledger(),
    )
    results: dict[float, dict[str, Figures]] = {}
    async with start_dev_server() as server, running_sandbox() as sandbox:
        sandbox.paymentassist.faults.drop_webhooks()  # the bench sends every webhook itself
        client = await connect(server.address)
        readers = await connect(server.address)
        env = worker_env(server, sandbox, settings.task_queue, settings.ledger_url())
        processes = [start_worker(env, logs / f"worker-{i}.log") for i in range(workers)]
        bare_queue = f"bare-{run}"
        processes.append(start_bare_worker(server.address, bare_queue, logs / "bare-worker.log"))
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        try:
            async with (
                running_gateway(
                    client,
                    settings=settings,
                    paymentassist=sandbox.paymentassist_settings(),
                    passimpay=sandbox.passimpay_settings(),
                ) as gateway,
                serve(bare_app(client)) as bare_server,
                httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=limits) as http,
            ):
                checkouts = PaymentAssistCheckouts(
                    readers,
                    task_queue=settings.task_queue,
                    public_url=settings.public_url,
                    bounds=PATIENT,
                )
                pids = {
                    "bench+gateway": os.getpid(),
                    "temporal": server.process.pid,
                    **{f"worker-{i}": p.pid for i, p in enumerate(processes[:-1])},
                    "bare-worker": processes[-1].pid,
                }
                targets: list[Target] = [
                    Payflow(readers, gateway.url, checkouts, sandbox, http),
                    Bare(readers, bare_server.url, bare_queue),
                ]
                for rate in rates:
                    figures = results.setdefault(rate, {t.name: Figures() for t in targets})
                    for round_ in range(rounds):
                        order = targets if round_ % 2 == 0 else targets[::-1]
                        for target in order:
                            prefix = f"{target.name}-{run}-{rate:g}-{round_}"
                            done = await phase(http, target, rate, seconds, prefix, pids)
                            figures[target.name].add(done)
                            print(f"{rate:g}/s round {round_ + 1} {target.name:8}"
                                  f"{figures[target.name].round_p50s[-1] * 1000:.0f} ms p50 "
                                  f"visible", flush=True)  # fmt: skip
        finally:
            for process in processes:
                stop_process(process)

    checks: dict[str, bool] = {}
    print(f"\nwebhooks           {rates} req/s, {seconds:g} s per phase, {rounds} rounds, "
          f"{workers} worker process(es), {os.cpu_count()} cores")  # fmt: skip
    for rate, figures in results.items():
        payflow, bare = figures["payflow"], figures["bare"]
        found = ratios(payflow, bare)
        print(f"{rate:g} req/s payflow   {payflow.line()}")
        print(f"{rate:g} req/s bare      {bare.line()}")
        if found:
            print(f"{rate:g} req/s ratio     payflow/bare webhook→visible p50: min "
                  f"{min(found):.2f}, median {statistics.median(found):.2f}, "
                  f"max {max(found):.2f} over {len(found)} rounds")  # fmt: skip
        checks[f"no webhook lost at {rate:g} req/s"] = payflow.lost == 0
        if rate == rates[0]:
            checks[f"webhook→visible p50 ÷ bare ≤ {TARGET_RATIO} at {rate:g} req/s (median)"] = (
                bool(found) and statistics.median(found) <= TARGET_RATIO
            )
        if rate == rates[-1]:
            checks[f"every send answered within 1 s at {rate:g} req/s (200 or 503+Retry-After)"] = (
                all(a.answered_in_time for a in payflow.attempts)
            )
    return verdict(checks, logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", default="20,50", help="webhooks per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",")]
    ok = asyncio.run(bench(rates, args.seconds, args.rounds, args.workers))
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # sdk-python#300: exit explicitly after Temporal work


if __name__ == "__main__":
    main()
