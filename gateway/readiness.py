"""Readiness: Temporal answers and a worker polls our task queue, or the gateway says what lacks.

A gateway whose requests would only wait (no Temporal) or park (no worker) should be taken out
of rotation; liveness (`/healthz`) stays separate so such a gateway is not restarted for it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

POLLED_KINDS = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}
PROBLEM_TYPE = "about:blank"

router = APIRouter(tags=["health"])


class Readiness:
    """Asks Temporal who polled the task queue, and how recently: at most once per `ttl`
    seconds however many probes ask (they share the answer, and wait for one look-up)."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        max_poller_age: float,
        timeout: float,
        ttl: float = 1.0,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._max_age = max_poller_age
        self._timeout = timeout
        self._ttl = ttl
        self._answer: list[str] = []
        self._answered_at: float | None = None
        self._asking = asyncio.Lock()

    async def missing(self) -> list[str]:
        """What keeps the gateway from being ready; empty when it is."""
        async with self._asking:  # one look-up at a time; those waiting reuse its answer
            now = time.monotonic()
            if self._answered_at is None or now - self._answered_at >= self._ttl:
                self._answer = await self._look_up()
                self._answered_at = time.monotonic()
            return list(self._answer)

    async def _look_up(self) -> list[str]:
        """Ask Temporal now."""
        try:
            polled = await asyncio.wait_for(
                asyncio.gather(*(self._last_poll(kind) for kind in POLLED_KINDS.values())),
                self._timeout,  # the SDK retries an unreachable server beyond any RPC deadline
            )
        except Exception as error:  # noqa: BLE001 - any failure means Temporal did not answer
            return [f"Temporal did not answer ({type(error).__name__})"]
        now = time.time()
        return [
            f"no worker polled {kind} tasks on task queue {self._task_queue!r} "
            f"in the last {self._max_age:g} s"
            for kind, last in zip(POLLED_KINDS, polled, strict=True)
            if last is None or now - last > self._max_age
        ]

    async def _last_poll(self, kind: TaskQueueType.ValueType) -> float | None:
        """The latest poll's time (epoch seconds) of any worker, None when none is known."""
        reply = await self._client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self._client.namespace,
                task_queue=TaskQueue(name=self._task_queue),
                task_queue_type=kind,
            ),
            timeout=timedelta(seconds=self._timeout),
        )
        times = [poller.last_access_time.ToMicroseconds() / 1e6 for poller in reply.pollers]
        return max(times, default=None)


@router.get(
    "/readyz",
    responses={503: {"description": "not ready: the problem's `missing` lists why"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 when Temporal answers and a worker polled the task queue recently; 503 otherwise."""
    readiness: Readiness | None = request.app.state.services.readiness
    missing = ["readiness is not configured"] if readiness is None else await readiness.missing()
    if not missing:
        return JSONResponse({"status": "ready"})
    problem = {
        "type": PROBLEM_TYPE,
        "title": "Service Unavailable",
        "status": 503,
        "detail": "; ".join(missing),
        "missing": missing,
    }
    return JSONResponse(problem, status_code=503, media_type="application/problem+json")
