"""An address open for a long time on the time-skipping server, the provider played by doubles
under the activities' own names: 5 000 deposits, then 10 000 replayed callbacks, every run of
its history under 10 000 events, every deposit credited exactly once, and it still closes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest_asyncio
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.passimpay import AddressLookup
from payflow.crypto import PassimpayPayments
from providers.passimpay import DepositAddress, OrderStatusV3
from state.deposit_ledger import SETTLED_KEPT, DepositEvent
from state.passimpay_models import AddressRequest, AddressState, CurrencyFacts
from tests.flows.helpers import eventually, new_order_id
from tests.timeskipping.ledger_double import with_ledger
from tests.timeskipping.payout_doubles import TRON
from worker import activity_methods
from workflows.passimpay_address import PassimpayAddress, address_workflow_id

USDT_TRC20 = 70
DEPOSITS = int(os.environ.get("ADR_DEPOSITS", 5_000))
REPLAYED = int(os.environ.get("ADR_REPLAYED", 10_000))
HISTORY_BOUND = 10_000
BATCH = 50
CHUNK = 250
QUERY_TIMEOUT = timedelta(seconds=5)
CARRIED_BYTES_BOUND = 1_000_000
CONTINUE_AS_NEW_AFTER = AddressRequest.model_fields["continue_as_new_after"].default


@dataclass
class Chain:
    """The provider: every deposit the test has sent is on chain and counted by orderstatus."""

    received: Decimal = Decimal(0)
    status_checks: int = 0

    @activity.defn(name="passimpay.currency")
    async def currency(self, payment_id: int) -> CurrencyFacts:
        return CurrencyFacts(payment_id=payment_id, ticker="USDT", network="TRC20")

    @activity.defn(name="passimpay.address")
    async def address(self, lookup: AddressLookup) -> DepositAddress:
        return DepositAddress(address=TRON)

    @activity.defn(name="passimpay.order_status")
    async def order_status(self, order_id: str) -> OrderStatusV3:
        self.status_checks += 1
        return OrderStatusV3(status="wait", amount_paid=self.received, currency="USDT")


@dataclass
class Deposits:
    chain: Chain
    crypto: PassimpayPayments
    client: Client


@pytest_asyncio.fixture(loop_scope="session")
async def deposits(time_skipping: WorkflowEnvironment) -> AsyncIterator[Deposits]:
    chain = Chain()
    task_queue = f"payflow-adr-skip-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[PassimpayAddress],
        activities=with_ledger(activity_methods(chain)),
    ):
        crypto = PassimpayPayments(time_skipping.client, task_queue=task_queue)
        yield Deposits(chain, crypto, time_skipping.client)


def deposit(n: int) -> DepositEvent:
    return DepositEvent(
        txhash=f"{n:064x}", payment_id=USDT_TRC20, amount=Decimal(1), confirmations=1
    )


async def send_all(
    deposits: Deposits,
    order_id: str,
    events: list[DepositEvent],
    processed: Callable[[AddressState], int],
) -> None:
    """Signal the callbacks `BATCH` at once, and let the address take in each `CHUNK` before
    the next: a provider that delivers them over time, not all in the same millisecond (under
    an unbroken flood no run can continue as new, since each attempt meets new signals)."""
    handle = deposits.client.get_workflow_handle(address_workflow_id(order_id))

    async def taken_in() -> int:
        try:
            view = await handle.query(PassimpayAddress.state, rpc_timeout=QUERY_TIMEOUT)
        except RPCError:  # a query that met a run continuing as new: ask again
            return -1
        return processed(AddressState.model_validate(view))

    start = await taken_in()
    for offset in range(0, len(events), CHUNK):
        chunk = events[offset : offset + CHUNK]
        for first in range(0, len(chunk), BATCH):
            batch = chunk[first : first + BATCH]
            await asyncio.gather(*(handle.signal(PassimpayAddress.deposit, e) for e in batch))
        expected = start + offset + len(chunk)
        await eventually(taken_in, lambda n, expected=expected: n >= expected, timeout=120)


async def events_per_run(client: Client, workflow_id: str) -> list[int]:
    """The length of every run's history, newest first, following the continue-as-new chain."""
    lengths: list[int] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return lengths
        run_id = started.continued_execution_run_id


async def test_5000_deposits_then_10000_replayed_callbacks_keep_every_run_short(
    deposits: Deposits,
) -> None:
    order_id = new_order_id("adr-long")
    workflow_id = address_workflow_id(order_id)
    opened = await deposits.crypto.open_address(
        AddressRequest(order_id=order_id, payment_id=USDT_TRC20)
    )
    assert opened.address == TRON

    deposits.chain.received = Decimal(DEPOSITS)  # on chain before the callbacks arrive
    events = [deposit(n) for n in range(DEPOSITS)]
    await send_all(deposits, order_id, events, lambda view: view.deposits_settled)
    credited = await deposits.crypto.get_address(order_id)
    assert credited.credited_total == DEPOSITS and not credited.needs_attention
    assert credited.runs >= 2
    assert len(credited.deposits) <= SETTLED_KEPT  # older settled ones leave a digest only
    carried = AddressState.model_validate(credited.model_dump(mode="json"))
    assert len(carried.model_dump_json()) < CARRIED_BYTES_BOUND
    runs_before = credited.runs

    replayed = [deposit(n % DEPOSITS) for n in range(0, REPLAYED * 7, 7)]  # archived and kept
    await send_all(deposits, order_id, replayed, lambda view: view.callbacks_repeated)
    assert (await deposits.crypto.get_address(order_id)).callbacks_repeated == REPLAYED
    closed = await deposits.crypto.close_address(order_id)
    assert closed.status == "closed"
    assert closed.credited_total == DEPOSITS  # nothing credited twice
    assert closed.deposits_settled == DEPOSITS and not closed.needs_attention
    # every callback counts towards continue-as-new, repeats included (a close may end the last)
    assert closed.runs - runs_before >= REPLAYED // (2 * CONTINUE_AS_NEW_AFTER)

    lengths = await events_per_run(deposits.client, workflow_id)
    assert len(lengths) == closed.runs
    assert max(lengths) < HISTORY_BOUND, lengths
    print(f"runs {len(lengths)}, events per run (newest first) {lengths}")
    described = await deposits.client.get_workflow_handle(workflow_id).describe()
    assert described.status is not None and described.status.name == "COMPLETED"
