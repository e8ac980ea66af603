"""Signed webhook deliveries in the background: up to 3 attempts, anything but 200 retried.

A delivery still owed is a row in the state db until it is acknowledged (200) or out of
attempts, so a restarted sandbox sends what was due and never resends what was acknowledged.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from providers.paymentassist.signing import sign_webhook
from sandbox.paymentassist.faults import PaymentAssistFaults
from sandbox.statedb import StateDB, Table

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


@dataclass(frozen=True)
class PendingWebhook:
    """A delivery still owed: its next attempt number and when that attempt is due."""

    url: str
    payload: dict[str, Any]
    attempt: int
    due: float


class WebhookSender:
    """Sends terminal-state events without ever blocking the API response that caused them."""

    def __init__(
        self,
        faults: PaymentAssistFaults,
        *,
        retry_delay: float,
        clock: Callable[[], float],
        timeout: float = 5.0,
        db: StateDB | None = None,
    ) -> None:
        self.log: list[WebhookDelivery] = []
        self._pending = Table(db or StateDB.memory(), "webhook", PendingWebhook)
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
            pending = PendingWebhook(url, payload, 1, self._clock() + self._faults.webhook_delay)
            key = secrets.token_hex(8)
            self._pending.put(key, pending)
            self._spawn(self._deliver(key, pending, self._faults.webhook_delay))

    def resume(self) -> None:
        """Send every delivery a previous run still owed, from the attempt it had reached."""
        for key, pending in self._pending.load():
            self._spawn(self._deliver(key, pending, max(0.0, pending.due - self._clock())))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, key: str, pending: PendingWebhook, first_wait: float) -> None:
        url, payload = pending.url, pending.payload
        for attempt in range(pending.attempt, MAX_ATTEMPTS + 1):
            wait = first_wait if attempt == pending.attempt else self._retry_delay
            if wait:
                await asyncio.sleep(wait)
            try:
                response = await self._client().post(url, json=payload)
                self.log.append(WebhookDelivery(url, payload, attempt, response.status_code))
                if response.status_code == 200:
                    break
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                self.log.append(WebhookDelivery(url, payload, attempt, error=type(error).__name__))
            if attempt < MAX_ATTEMPTS:
                due = self._clock() + self._retry_delay
                self._pending.put(key, PendingWebhook(url, payload, attempt + 1, due))
        self._pending.delete(key)

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
