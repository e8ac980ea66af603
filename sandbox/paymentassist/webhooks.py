"""Signed webhook deliveries in the background: up to 3 attempts, anything but 200 retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from providers.paymentassist.signing import sign_webhook
from sandbox.paymentassist.faults import PaymentAssistFaults

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery attempt (attempt 0: dropped by a fault, never sent)."""

    url: str
    payload: dict[str, Any]
    attempt: int
    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code == 200


class WebhookSender:
    """Sends terminal-state events without ever blocking the API response that caused them."""

    def __init__(
        self,
        faults: PaymentAssistFaults,
        *,
        retry_delay: float,
        clock: Callable[[], float],
        timeout: float = 5.0,
    ) -> None:
        self.log: list[WebhookDelivery] = []
        self._faults = faults
        self._retry_delay = retry_delay
        self._clock = clock
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def send(self, url: str, event_name: str, token: str, secret: str) -> None:
        """Schedule the event for delivery, applying any drop/duplicate/delay fault."""
        payload: dict[str, Any] = {
            "event_name": event_name,
            "event_data": {"token": token},
            "event_time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self._clock())),
        }
        payload["signature"] = sign_webhook(payload, secret)
        copies = self._faults.webhook_copies()
        if copies == 0:
            self.log.append(WebhookDelivery(url, payload, attempt=0, error="dropped by fault"))
        for _ in range(copies):
            self._spawn(self._deliver(url, payload, self._faults.webhook_delay))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, payload: dict[str, Any], delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = await self._client().post(url, json=payload)
                self.log.append(WebhookDelivery(url, payload, attempt, response.status_code))
                if response.status_code == 200:
                    return
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                self.log.append(WebhookDelivery(url, payload, attempt, error=type(error).__name__))
            if attempt < MAX_ATTEMPTS:
                await asyncio.sleep(self._retry_delay)

    def _client(self) -> httpx.AsyncClient:
        """One client for the sender's lifetime: a TLS context and a pool per delivery would
        cost more CPU than the webhook itself."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        return self._http

    async def wait_idle(self) -> None:
        """Wait until every scheduled delivery (including retries) has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel_all(self) -> None:
        """Stop pending deliveries when the sandbox shuts down."""
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        """Stop pending deliveries, then close the shared HTTP client."""
        tasks = list(self._tasks)
        self.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
