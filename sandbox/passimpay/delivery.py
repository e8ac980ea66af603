"""Callback delivery the provider's way: signed JSON POST, up to 3 attempts on non-200 replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from sandbox.passimpay.faults import PassimpayFaults
from sandbox.passimpay.tasks import Background

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class CallbackDelivery:
    """One delivery attempt: the exact bytes and signature sent, and what came back."""

    url: str | None
    body: bytes
    signature: str
    attempt: int
    status: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        """Only HTTP 200 counts as delivered."""
        return self.status == 200


class CallbackSender:
    """Delivers signed callbacks to the platform's notification URL, applying callback faults."""

    def __init__(
        self,
        faults: PassimpayFaults,
        background: Background,
        url: Callable[[], str | None],
        *,
        retry_delay: float,
        timeout: float = 5.0,
    ) -> None:
        self.retry_delay = retry_delay
        self.log: list[CallbackDelivery] = []
        self._faults = faults
        self._background = background
        self._url = url
        self._timeout = timeout
        self._held: list[tuple[bytes, str]] = []
        self._http: httpx.AsyncClient | None = None
        faults.on_release = self.release_held

    def send(self, body: bytes, signature: str) -> None:
        """Deliver one callback in the background (or hold, drop or duplicate it on request)."""
        if self._faults.take_drop():
            return
        if self._faults.reorder:
            self._held.append((body, signature))
            return
        copies = 2 if self._faults.take_duplicate() else 1
        for _ in range(copies):
            self._background.spawn(self._deliver(body, signature, self._faults.callback_delay))

    def release_held(self) -> None:
        """Deliver held callbacks, newest first."""
        held, self._held = self._held, []
        for body, signature in reversed(held):
            self._background.spawn(self._deliver(body, signature, 0.0))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _deliver(self, body: bytes, signature: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if attempt > 1:
                await asyncio.sleep(self.retry_delay)
            url = self._url()
            status, error = await self._post(url, body, signature)
            delivery = CallbackDelivery(
                url, body, signature, attempt, status, error, time.monotonic()
            )
            self.log.append(delivery)
            if delivery.ok or url is None:
                return

    async def _post(
        self, url: str | None, body: bytes, signature: str
    ) -> tuple[int | None, str | None]:
        if url is None:
            return None, "no callback_url set"
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        headers = {"Content-Type": "application/json", "x-signature": signature}
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        return response.status_code, None
