"""Open idle workflows: worker RSS per open workflow and CPU while they wait (bench/checkouts.py).

Each round starts a fresh payflow worker and a fresh bare worker on their own task queues,
warms them up, reads their RSS, opens N of each (paced) and reads again twice: 10 s after the
last was opened (some checkouts have made their first `/status` poll) and once every checkout
has polled (the steady state of a checkout waiting for its customer). Fresh workers, because a
worker's RSS grows less when it can reuse memory freed by earlier flows: read after the
throughput rounds, the figure depended on how much each kind had freed before. The round's
flows are terminated and its workers stopped before the next.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from proc import Usage  # bench/ is on sys.path
from temporalio.client import Client

from payflow.devserver import stop_process

WARM_UP = 20
"""Flows of each kind opened before the first reading (imports, caches, first runs)."""
TASKS_DONE_SECONDS = 10.0
"""Wait after the last open before reading: its tasks and the server's answers are done."""
POLL_MARGIN_SECONDS = 15.0
"""Read this long after the last checkout's first poll was due: every checkout has polled."""
TERMINATING_AT_ONCE = 50


@dataclass(frozen=True)
class IdleKit:
    """What a round needs from the bench: how to start its workers and open its flows."""

    start_workers: Callable[[int], tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]
    """Round index → (payflow worker, bare worker), fresh, each on a queue of its own."""
    read: Callable[[subprocess.Popen[bytes], subprocess.Popen[bytes]], dict[str, Usage]]
    open_payflow: Callable[[int, str], Awaitable[str]]
    """(round, order id) → the opened checkout's workflow id."""
    open_bare: Callable[[int, str], Awaitable[str]]
    status_calls: Callable[[], int]
    client: Client
    first_poll_seconds: float


@dataclass
class IdleRound:
    """RSS per open workflow of each worker, at both readings, and (last round) idle CPU."""

    opened: dict[str, float]
    polled: dict[str, float]
    cpu: dict[str, float] | None = None


def per_open(before: dict[str, Usage], after: dict[str, Usage], count: int) -> dict[str, float]:
    return {name: (after[name].rss - before[name].rss) / count for name in before}


async def idle_round(
    kit: IdleKit,
    index: int,
    count: int,
    pace: float,
    cpu_window: tuple[float, float] | None,
) -> IdleRound:
    """One round in fresh workers; `cpu_window` (settle, window) also measures idle CPU."""
    payflow_worker, bare_worker = kit.start_workers(index)
    opened_ids: list[str] = []

    def read() -> dict[str, Usage]:
        return kit.read(payflow_worker, bare_worker)

    async def open_pair(order_id: str) -> None:
        opened_ids.extend(
            await asyncio.gather(kit.open_payflow(index, order_id), kit.open_bare(index, order_id))
        )

    try:
        await asyncio.gather(*(open_pair(f"warm-{index}-{i:03d}") for i in range(WARM_UP)))
        # ended, so the N open fit the worker's cache as they would alone (an evicted
        # checkout replays its whole history at every poll)
        await _terminate(kit.client, opened_ids)
        opened_ids.clear()
        await asyncio.sleep(TASKS_DONE_SECONDS)
        before = read()
        polls_before = kit.status_calls()
        for i in range(count):
            tick = time.monotonic()
            await open_pair(f"idle-{index}-{i:05d}")
            await asyncio.sleep(max(0.0, 1.0 / pace - (time.monotonic() - tick)))
        last_opened = time.monotonic()
        await asyncio.sleep(TASKS_DONE_SECONDS)
        opened = read()
        await asyncio.sleep(
            max(0.0, last_opened + kit.first_poll_seconds + POLL_MARGIN_SECONDS - time.monotonic())
        )
        if kit.status_calls() - polls_before < count:
            raise RuntimeError(f"{count} checkouts open, {kit.status_calls() - polls_before} polls")
        polled = read()
        result = IdleRound(per_open(before, opened, count), per_open(before, polled, count))
        if cpu_window is not None:
            settle, window = cpu_window
            await asyncio.sleep(max(0.0, last_opened + settle - time.monotonic()))
            waiting, calls = read(), kit.status_calls()
            await asyncio.sleep(window)
            after = read()
            result.cpu = {name: (after[name].cpu - waiting[name].cpu) / window for name in after}
            result.cpu["status calls/s"] = (kit.status_calls() - calls) / window
        return result
    finally:
        stop_process(payflow_worker)
        stop_process(bare_worker)
        await _terminate(kit.client, opened_ids)


async def _terminate(client: Client, workflow_ids: list[str]) -> None:
    """Leave nothing open for the next round's dev-server readings."""
    gate = asyncio.Semaphore(TERMINATING_AT_ONCE)

    async def one(workflow_id: str) -> None:
        async with gate:
            await client.get_workflow_handle(workflow_id).terminate(reason="bench round over")

    await asyncio.gather(*(one(w) for w in workflow_ids), return_exceptions=True)
