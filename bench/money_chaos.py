"""Chaos run: mixed flows through payflow as deployed while providers misbehave, the worker is
killed twice and Temporal restarts; then every amount is compared with the providers' books.

    python bench/money_chaos.py [--flows 100] [--hog 2] [--database sqlite|postgresql]

Its own Temporal dev server (on a database file, so a restart keeps it), the simulators, and
payflow's worker and gateway processes with tokens, sealed payloads and the ledger on. A quarter
of the flows each: checkouts (approved at the lender), invoices (paid in one or two parts),
H2H addresses (one to three deposits, every fourth in BTC with two confirmations; closed once
credited) and payouts. Faults: lost `/v2/withdraw` replies, failing status reads at both
providers, duplicated callbacks and webhooks. Kill -9 of the worker at a third and at two thirds
of the starts; Temporal stopped and started again half-way.

Checks, against the simulators' own records and the ledger of record:
- every flow ends as the provider's books say (checkouts completed, invoices paid, addresses
  closed, payouts paid), none waiting for an operator (a checkout whose `/begin` reply died
  with the worker waits, as designed, and is counted apart);
- each invoice's credited amount is the simulator's received amount; each address's credited
  sum is the sum of the deposits the simulator received for it; each payout was committed once
  by the simulator, for its amount, and withdraw requests were never less than 1 s apart;
- each ledger row is closed with the workflow's final status, and money entries add up to the
  same totals.
Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from deployed import Deployment, deployment, start_deployed_gateway, start_deployed_worker
from harness import cpu_hogs, verdict  # bench/ is on sys.path
from ledger_setup import ledger_database

from ledger.store import Ledger
from payflow.devserver import (
    DevServer,
    dev_server_args,
    server_environment,
    stop_process,
    wait_until_ready,
)
from payflow.http_server import free_port
from payflow.stack import RunningSandbox, running_sandbox
from payflow.temporal_client import connect
from state.checkout_models import CheckoutTiming
from state.passimpay_models import AddressRequest, AddressTiming, InvoiceRequest, InvoiceTiming
from state.passimpay_withdrawal_models import WithdrawalRequest, WithdrawalTiming
from workflows.passimpay_address import address_workflow_id
from workflows.passimpay_invoice import invoice_workflow_id
from workflows.passimpay_withdrawal import withdrawal_workflow_id
from workflows.paymentassist_checkout import checkout_workflow_id

USDT_TRC20, BTC = 70, 10
TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
CHECKOUT_TIMING = CheckoutTiming(
    active_poll_seconds=1.0, idle_poll_seconds=2.0, invoice_watch_seconds=0
)
INVOICE_TIMING = InvoiceTiming(active_poll_seconds=1.0, idle_poll_seconds=2.0)
ADDRESS_TIMING = AddressTiming(confirm_poll_seconds=1.0, confirm_deadline_seconds=600)
PAYOUT_TIMING = WithdrawalTiming(active_poll_seconds=1.0, idle_poll_seconds=2.0)
END_TIMEOUT = 600.0
WITHDRAW = "/v2/withdraw"


@dataclass
class Flow:
    """One flow the merchant started: its kind, order and workflow."""

    kind: str
    order_id: str
    workflow_id: str
    parked: bool = False
    url_lost: bool = False
    final: dict[str, Any] = field(default_factory=dict)


class Temporal:
    """A dev server on a database file, on a fixed port, that can be restarted."""

    def __init__(self, db_file: Path) -> None:
        self.port = free_port()
        self.db_file = db_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> DevServer:
        args = dev_server_args(self.port, None, self.db_file)
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_environment()
        )
        await wait_until_ready(self.address, self.process, 60)
        return DevServer(address=self.address, ui_url=None, process=self.process)

    async def restart(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        await self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


async def patiently(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """The merchant's retry: again while the gateway is down, restarting or answering 503."""
    for _ in range(1200):
        try:
            answer = await call()
        except httpx.TransportError:
            await asyncio.sleep(0.25)
            continue
        if answer.status_code != 503:
            return answer
        await asyncio.sleep(0.25)
    raise RuntimeError("the gateway never answered")


class Merchant:
    """Starts flows over HTTP with its token, and plays the payers on the simulators."""

    def __init__(self, http: httpx.AsyncClient, deployed: Deployment, sandbox: RunningSandbox):
        self.http, self.deployed, self.sandbox = http, deployed, sandbox
        self.flows: list[Flow] = []

    async def post(self, path: str, body: dict[str, Any], operator: bool = False) -> httpx.Response:
        headers = self.deployed.merchant
        if operator:
            headers = {"Authorization": f"Bearer {self.deployed.env['PAYFLOW_OPERATOR_TOKEN']}"}
        url = f"{self.deployed.gateway_url}{path}"
        return await patiently(lambda: self.http.post(url, json=body, headers=headers))

    async def get(self, path: str) -> httpx.Response:
        url = f"{self.deployed.gateway_url}{path}"
        return await patiently(lambda: self.http.get(url, headers=self.deployed.merchant))

    async def checkout(self, index: int) -> None:
        order_id = f"chaos-c{index}-{uuid.uuid4().hex[:6]}"
        body = {
            "order_id": order_id,
            "amount": 10_000 + index,
            "customer": {
                "email": "ada@example.com",
                "f_name": "Ada",
                "s_name": "Lovelace",
                "addr1": "1 Analytical Way",
                "postcode": "AB1 2CD",
            },
            "timing": CHECKOUT_TIMING.model_dump(mode="json"),
        }
        answer = await self.post("/v1/checkouts", body)
        flow = Flow("checkout", order_id, checkout_workflow_id(order_id))
        self.flows.append(flow)
        if answer.status_code == 409 and "/begin outcome unknown" in answer.text:
            flow.parked = True
            return
        if answer.status_code != 201:
            raise RuntimeError(f"checkout {order_id}: {answer.status_code} {answer.text}")
        redirect = await self.sandbox.paymentassist.decide(answer.json()["token"], "approve")
        await patiently(lambda: self.http.get(redirect))

    async def invoice(self, index: int) -> None:
        order_id = f"chaos-i{index}-{uuid.uuid4().hex[:6]}"
        request = InvoiceRequest(
            order_id=order_id,
            amount=Decimal("40.00") + index,
            timing=INVOICE_TIMING,
            late_deposit_window_seconds=0,
        )
        answer = await self.post("/v1/crypto/invoices", request.model_dump(mode="json"))
        flow = Flow("invoice", order_id, invoice_workflow_id(order_id))
        if answer.status_code == 409 and "payment URL was lost" in answer.text:
            flow.url_lost = True  # created, its reply lost: followed, and an operator told
        elif answer.status_code != 201:
            raise RuntimeError(f"invoice {order_id}: {answer.status_code} {answer.text}")
        self.flows.append(flow)
        if index % 2:
            await self.sandbox.passimpay.pay(order_id, amount=Decimal("15.00"))
            await asyncio.sleep(1.0)
        await self.sandbox.passimpay.pay(order_id)

    async def address(self, index: int) -> None:
        order_id = f"chaos-a{index}-{uuid.uuid4().hex[:6]}"
        payment_id = BTC if index % 4 == 0 else USDT_TRC20
        request = AddressRequest(order_id=order_id, payment_id=payment_id, timing=ADDRESS_TIMING)
        answer = await self.post("/v1/crypto/addresses", request.model_dump(mode="json"))
        if answer.status_code != 201:
            raise RuntimeError(f"address {order_id}: {answer.status_code} {answer.text}")
        self.flows.append(Flow("address", order_id, address_workflow_id(order_id)))
        deposits = 1 + index % 3
        unit = Decimal("0.001") if payment_id == BTC else Decimal("7.5")
        for part in range(deposits):
            await self.sandbox.passimpay.deposit(order_id, unit * (part + 1))
        expected = sum((unit * (part + 1) for part in range(deposits)), Decimal(0))
        for _ in range(int(END_TIMEOUT)):
            view = (await self.get(f"/v1/crypto/addresses/{order_id}")).json()
            if Decimal(str(view.get("credited_total", "0"))) >= expected:
                break
            await asyncio.sleep(1.0)
        closed = await self.post(f"/v1/crypto/addresses/{order_id}/close", {}, operator=True)
        if closed.status_code != 200:
            raise RuntimeError(f"close {order_id}: {closed.status_code} {closed.text}")

    async def payout(self, index: int) -> None:
        order_id = f"chaos-w{index}-{uuid.uuid4().hex[:6]}"
        request = WithdrawalRequest(
            order_id=order_id,
            payment_id=USDT_TRC20,
            address_to=TRON,
            amount=Decimal("5") + index,
            timing=PAYOUT_TIMING,
            late_callback_window_seconds=0,
        )
        answer = await self.post("/v1/crypto/withdrawals", request.model_dump(mode="json"))
        if answer.status_code != 201:
            raise RuntimeError(f"payout {order_id}: {answer.status_code} {answer.text}")
        self.flows.append(Flow("withdrawal", order_id, withdrawal_workflow_id(order_id)))


def inject_faults(sandbox: RunningSandbox) -> None:
    """What the providers do wrong during the run."""
    passimpay, lender = sandbox.passimpay.faults, sandbox.paymentassist.faults
    passimpay.lose_response_ratio(WITHDRAW, 0.2, seed=7)
    passimpay.fail_next("/v3/orderstatus", "503", times=25)
    passimpay.fail_next("/v2/withdrawstatus", "503", times=10)
    passimpay.duplicate_callbacks(times=30)
    lender.fail_next("status", "503", times=15, delay=0)
    lender.duplicate_webhooks(times=10)


def same_money(a: Any, b: Any) -> bool:
    return a is not None and b is not None and Decimal(str(a)) == Decimal(str(b))


def judge(flows: list[Flow], sandbox: RunningSandbox, records: dict[str, Any]) -> dict[str, bool]:
    """Every flow against the simulators' books and its ledger row."""
    sim, now = sandbox.passimpay, sandbox.passimpay.now()
    wrong: dict[str, list[str]] = {"status": [], "money": [], "ledger": [], "attention": []}
    ended = {"checkout": "completed", "invoice": "paid", "address": "closed", "withdrawal": "paid"}
    for flow in flows:
        final, record = flow.final, records[flow.workflow_id]
        if flow.parked:
            if final.get("status") != "needs_attention" or record is None or record.closed:
                wrong["status"].append(flow.order_id)
            continue
        if final.get("status") != ended[flow.kind]:
            wrong["status"].append(f"{flow.order_id}: {final.get('status')}")
        if final.get("needs_attention") and not flow.url_lost:
            wrong["attention"].append(flow.order_id)
        if record is None or not record.closed or record.status != final.get("status"):
            wrong["ledger"].append(flow.order_id)
        if flow.kind == "invoice":
            received = sim.invoices.by_order[flow.order_id].paid(now)
            ended_with = final.get("ended_with") or final.get("provider") or {}
            if not same_money(ended_with.get("amount_paid"), received):
                wrong["money"].append(f"{flow.order_id}: {ended_with} vs {received}")
        elif flow.kind == "address":
            received = sum(
                (
                    d.amount
                    for d in sim.deposits
                    if d.address.order_id == flow.order_id and d.credited
                ),
                Decimal(0),
            )
            if not same_money(final.get("credited_total"), received):
                wrong["money"].append(
                    f"{flow.order_id}: {final.get('credited_total')} vs {received}"
                )
        elif flow.kind == "withdrawal":
            committed = [
                w for w in sim.withdrawals.by_transaction.values() if w.order_id == flow.order_id
            ]
            amount = final.get("request", {}).get("amount")
            if len(committed) != 1 or not same_money(committed[0].amount, amount):
                wrong["money"].append(f"{flow.order_id}: {len(committed)} committed")
        elif flow.kind == "checkout":
            applications = sandbox.paymentassist.applications_for_order(flow.order_id)
            funded = [a for a in applications if a.status == "completed"]
            if len(funded) != 1 or not same_money(funded[0].amount, final.get("amount")):
                wrong["money"].append(f"{flow.order_id}: lender {applications}")
    calls, violations = sim.limiter.calls, sim.limiter.violations
    gaps = [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]
    for name, found in wrong.items():
        if found:
            print(f"  {name}: {len(found)} wrong, e.g. {found[:3]}")
    print(f"  withdraw requests: {len(calls)}, smallest gap {min(gaps, default=0):.3f} s")
    return {
        "every flow ended as the provider's books say": not wrong["status"],
        "no flow waits for an operator": not wrong["attention"],
        "credited, received and paid-out amounts equal the simulators'": not wrong["money"],
        "every ledger row closed with the workflow's status": not wrong["ledger"],
        "withdraw requests at least 1 s apart": violations == 0 and min(gaps, default=1.0) >= 1.0,
    }


async def final_views(flows: list[Flow], client: Any) -> None:
    """Each workflow's result (parked checkouts: their state once nothing waits to be written)."""

    async def one(flow: Flow) -> None:
        handle = client.get_workflow_handle(flow.workflow_id)
        deadline = time.monotonic() + END_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if flow.parked:
                    view = await handle.query("state")
                    if not view["recorded"]["pending"]:
                        flow.final = view
                        return
                    await asyncio.sleep(0.5)
                    continue
                flow.final = await handle.result()
                return
            except Exception:  # noqa: BLE001 - Temporal restarting: ask again
                await asyncio.sleep(0.5)
        raise RuntimeError(f"{flow.workflow_id} did not end in {END_TIMEOUT:g} s")

    await asyncio.gather(*(one(flow) for flow in flows))


async def chaos(args: argparse.Namespace) -> bool:
    logs = Path(tempfile.mkdtemp(prefix="payflow-chaos-"))
    temporal = Temporal(logs / "temporal.db")
    gateway_port = free_port()
    callback_url = f"http://127.0.0.1:{gateway_port}/webhooks/passimpay"
    with cpu_hogs(args.hog):
        server = await temporal.start()
        try:
            async with (
                running_sandbox(passimpay_callback_url=callback_url) as sandbox,
                ledger_database(args.database) as database_url,
            ):
                sandbox.passimpay.withdraw_settle_seconds = 0.5
                deployed = deployment(
                    server, sandbox, f"chaos-{uuid.uuid4().hex[:6]}", database_url, gateway_port
                )
                worker = start_deployed_worker(deployed, logs / "worker.log")
                gateway = await start_deployed_gateway(deployed, logs / "gateway.log")
                try:
                    return await run_flows(
                        args, temporal, deployed, sandbox, database_url, logs, worker
                    )
                finally:
                    stop_process(gateway)
        finally:
            temporal.stop()


async def run_flows(
    args: argparse.Namespace,
    temporal: Temporal,
    deployed: Deployment,
    sandbox: RunningSandbox,
    database_url: str,
    logs: Path,
    worker: subprocess.Popen[bytes],
) -> bool:
    started = time.monotonic()
    inject_faults(sandbox)
    workers = [worker]
    try:
        merchant = await merchant_run(args, temporal, deployed, sandbox, logs, workers)
    finally:
        for process in workers:
            stop_process(process)
    ledger = Ledger.connect(database_url)
    try:
        records = {
            flow.workflow_id: await ledger.payment(flow.kind, flow.order_id)
            for flow in merchant.flows
        }
    finally:
        await ledger.close()
    parked = sum(flow.parked for flow in merchant.flows)
    lost = sum(flow.url_lost for flow in merchant.flows)
    print(
        f"{len(merchant.flows)} flows ({parked} checkouts parked by a /begin that died with the"
        f" worker, {lost} invoices whose created link's reply was lost, followed and flagged)"
        f" in {time.monotonic() - started:.0f} s"
    )
    return verdict(judge(merchant.flows, sandbox, records), logs)


async def merchant_run(
    args: argparse.Namespace,
    temporal: Temporal,
    deployed: Deployment,
    sandbox: RunningSandbox,
    logs: Path,
    workers: list[subprocess.Popen[bytes]],
) -> Merchant:
    """Start every flow, kill the worker and restart Temporal on the way; each flow's end."""
    async with httpx.AsyncClient(timeout=60) as http:
        merchant = Merchant(http, deployed, sandbox)
        kinds = [merchant.checkout, merchant.invoice, merchant.address, merchant.payout]
        starts = [kinds[index % 4] for index in range(args.flows)]
        running = []
        for index, start in enumerate(starts):
            running.append(asyncio.create_task(start(index)))
            if index in (args.flows // 3, 2 * args.flows // 3):
                workers[-1].send_signal(signal.SIGKILL)
                workers[-1].wait(timeout=10)
                workers.append(start_deployed_worker(deployed, logs / "worker.log"))
                print(f"  kill -9 of the worker after {index + 1} starts")
            if index == args.flows // 2:
                await temporal.restart()
                print(f"  Temporal restarted after {index + 1} starts")
            await asyncio.sleep(0.05)
        await asyncio.gather(*running)
        client = await connect(temporal.address, codec=deployed.codec)
        await final_views(merchant.flows, client)
    return merchant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=100)
    parser.add_argument("--hog", type=int, default=0, help="CPU hogs to run meanwhile")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    ok = asyncio.run(chaos(parser.parse_args()))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
