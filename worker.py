"""Run payflow's Temporal worker: every workflow and activity, credentials from settings only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.heartbeat import HeartbeatInterceptor
from activities.paymentassist import PaymentAssistActivities
from payflow.settings import PayflowSettings, PaymentAssistSettings
from payflow.temporal_client import connect
from providers.paymentassist.client import PaymentAssistClient
from workflows.paymentassist_checkout import PaymentAssistCheckout


def activity_methods(holder: object) -> list[Callable[..., Any]]:
    """Every `@activity.defn` method of an activities object, bound to it."""
    return [
        getattr(holder, name)
        for name in dir(type(holder))
        if hasattr(getattr(type(holder), name), "__temporal_activity_definition")
    ]


def paymentassist_client(settings: PaymentAssistSettings | None = None) -> PaymentAssistClient:
    """The dealer's Payment Assist client, built from the environment."""
    settings = settings or PaymentAssistSettings()
    return PaymentAssistClient(
        settings.api_url,
        settings.api_key,
        settings.api_secret,
        timeout=settings.timeout_seconds,
    )


@contextlib.asynccontextmanager
async def running_worker(
    client: Client,
    *,
    settings: PayflowSettings | None = None,
    paymentassist: PaymentAssistClient | None = None,
) -> AsyncIterator[Worker]:
    """Run the worker for the duration of the block, closing provider clients after."""
    settings = settings or PayflowSettings()
    paymentassist = paymentassist or paymentassist_client()
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[PaymentAssistCheckout],
        activities=activity_methods(PaymentAssistActivities(paymentassist)),
        interceptors=[HeartbeatInterceptor()],
    )
    try:
        async with worker:
            yield worker
    finally:
        await paymentassist.aclose()


async def serve_forever() -> None:
    """Run until SIGINT or SIGTERM, then finish in-flight tasks and stop."""
    client = await connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client):
        await stop.wait()


def main() -> None:
    """Entry point for `python worker.py` and `payflow worker`."""
    asyncio.run(serve_forever())
    os._exit(0)  # sdk-python#300: avoid an abort at interpreter exit after Temporal work


if __name__ == "__main__":
    main()
