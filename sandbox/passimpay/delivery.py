"""Callback delivery the provider's way: signed JSON POST, up to 3 attempts on non-200 replies.

A callback still owed (held, waiting or between attempts) is a row in the state db until it is
acknowledged (200) or out of attempts, so a restarted simulator sends what was due and never
resends what was acknowledged.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import httpx
from pydantic import ConfigDict

from sandbox.passimpay.faults import PassimpayFaults
from sandbox.passimpay.tasks import Background
from sandbox.statedb import StateDB, Table

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


@dataclass(frozen=True)
class PendingCallback:
    """A callback still owed: its next attempt and when that is due (None: held for reorder)."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        ser_json_bytes="base64", val_json_bytes="base64"
    )

    body: bytes
    signature: str
    attempt: int
    due: float | None


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
        clock: Callable[[], float] = time.monotonic,
        db: StateDB | None = None,
    ) -> None:
        self.retry_delay = retry_delay
        self.log: list[CallbackDelivery] = []
        self._faults = faults
        self._background = background
        self._url = url
        self._timeout = timeout
        self._clock = clock
        self._pending = Table(db or StateDB.memory(), "callback", PendingCallback)
        self._held: list[tuple[str, PendingCallback]] = []
        self._http: httpx.AsyncClient | None = None
        faults.on_release = self.release_held

    def send(self, body: bytes, signature: str) -> None:
        """Deliver one callback in the background (or hold, drop or duplicate it on request)."""
        if self._faults.take_drop():
            return
        if self._faults.reorder:
            held = PendingCallback(body, signature, 1, None)
            self._held.append(self._owe(held))
            return
        copies = 2 if self._faults.take_duplicate() else 1
        delay = self._faults.callback_delay
        for _ in range(copies):
            key, pending = self._owe(PendingCallback(body, signature, 1, self._clock() + delay))
            self._background.spawn(self._deliver(key, pending, delay))

    def release_held(self) -> None:
        """Deliver held callbacks, newest first."""
        held, self._held = self._held, []
        for key, pending in reversed(held):
            self._background.spawn(self._deliver(key, pending, 0.0))

    def resume(self) -> None:
        """Send every callback a previous run still owed (held ones too: faults start afresh)."""
        for key, pending in self._pending.load():
            wait = 0.0 if pending.due is None else max(0.0, pending.due - self._clock())
            self._background.spawn(self._deliver(key, pending, wait))

    def _owe(self, pending: PendingCallback) -> tuple[str, PendingCallback]:
        key = secrets.token_hex(8)
        self._pending.put(key, pending)
        return key, pending

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _deliver(self, key: str, pending: PendingCallback, first_wait: float) -> None:
        body, signature = pending.body, pending.signature
        for attempt in range(pending.attempt, MAX_ATTEMPTS + 1):
            wait = first_wait if attempt == pending.attempt else self.retry_delay
            if wait:
                await asyncio.sleep(wait)
            url = self._url()
            status, error = await self._post(url, body, signature)
            delivery = CallbackDelivery(
                url, body, signature, attempt, status, error, time.monotonic()
            )
            self.log.append(delivery)
            if delivery.ok or url is None:
                break
            if attempt < MAX_ATTEMPTS:
                due = self._clock() + self.retry_delay
                self._pending.put(key, PendingCallback(body, signature, attempt + 1, due))
        self._pending.delete(key)

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
