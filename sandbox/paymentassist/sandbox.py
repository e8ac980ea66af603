"""The sandbox's control object: state, lifecycle rules, expiry timers and the served app.

With a `state_file`, applications, accounts and owed webhooks live in SQLite too, and a new
sandbox on the same file carries on where the last one stopped (faults, variants and the
call counters start afresh).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Literal

from fastapi import FastAPI, Request

from sandbox.paymentassist.app import create_app
from sandbox.paymentassist.faults import PaymentAssistFaults
from sandbox.paymentassist.page import signed_return_url
from sandbox.paymentassist.store import Application, ApplicationStore, Status
from sandbox.paymentassist.variants import StatusVariants
from sandbox.paymentassist.webhooks import WebhookDelivery, WebhookSender
from sandbox.statedb import StateDB, Table

DEFAULT_CREDENTIALS: Mapping[str, str] = {"demo_key": "demo_sandbox_secret"}
Outcome = Literal["approve", "decline"]
_REARM_DELAY = 0.05

JOURNAL_KEPT = 100_000


class PaymentAssistSandbox:
    """A stateful Payment Assist with fault injection, driven over HTTP or from Python."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None = None,
        *,
        webhook_retry_delay: float = 1.0,
        clock: Callable[[], float] = time.time,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._db = StateDB.open(state_file) if state_file is not None else StateDB.memory()
        accounts = Table(self._db, "account", str)
        given = dict(DEFAULT_CREDENTIALS if credentials is None else credentials)
        for api_key, secret in given.items():
            accounts.put(api_key, secret)
        self.credentials = dict(accounts.load()) | given
        """Accounts: API key -> secret (stored ones too, so their applications still sign)."""
        self.clock = clock
        self.base_url = ""
        self.faults = PaymentAssistFaults()
        self.variants = StatusVariants()
        self.calls: Counter[str] = Counter()
        self.journal: deque[tuple[str, str | None]] = deque(maxlen=JOURNAL_KEPT)
        """Every call that could be read: the endpoint, and the order id or token it named. (the latest 100 000)."""
        self.begins_by_order: Counter[str] = Counter()
        """Every signed `/begin` per order id, refused duplicates included."""
        self.store = ApplicationStore(self._db)
        self._webhooks = WebhookSender(
            self.faults, retry_delay=webhook_retry_delay, clock=clock, db=self._db
        )
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._resumed = False
        self.app: FastAPI = create_app(self)

    @property
    def webhook_log(self) -> list[WebhookDelivery]:
        """Every webhook delivery attempt so far, in order."""
        return self._webhooks.log

    def public_url(self, request: Request) -> str:
        """Where customers reach this app: `base_url` when set, else what the request shows."""
        if self.base_url:
            return self.base_url.rstrip("/")
        mounted_at = request.scope.get("root_path", "")  # includes any Mount prefix
        return f"{request.url.scheme}://{request.url.netloc}{mounted_at}".rstrip("/")

    def application(self, token: str) -> Application:
        """The application with this token, its status brought up to date (KeyError if none)."""
        found = self.store.get(token)
        if found is None:
            raise KeyError(token)
        return self.refresh(found)

    def applications_for_order(self, order_id: str) -> list[Application]:
        """Applications carrying this order id, across accounts (a lost `/begin` leaves one)."""
        return [self.refresh(found) for found in self.store.for_order(order_id)]

    def refresh(self, application: Application) -> Application:
        """Expire on read as well as by timer, so no reader ever sees a stale open status."""
        if application.is_open and self.clock() >= application.expires_at:
            self.finish(application, "expired")
        return application

    def admit(self, application: Application) -> None:
        """Store a new application and arm its expiry."""
        self.store.add(application)
        self._arm_expiry(application)

    def set_expiry(self, application: Application, seconds: int) -> None:
        """Expire `seconds` from now; 0 expires at once (and sends the webhook)."""
        application.expires_at = self.clock() + seconds
        self.store.save(application)
        self._arm_expiry(application)
        self.refresh(application)

    def open_page(self, application: Application) -> None:
        """The customer opened the continuation page: `pending` becomes `in progress`."""
        self.refresh(application)
        application.last_accessed_at = self.clock()
        if application.status == "pending":
            application.move_to("in progress")
        self.store.save(application)

    def finish(self, application: Application, status: Status) -> None:
        """Enter a terminal status and announce it to the application's webhook URL."""
        application.move_to(status)
        timer = self._timers.pop(application.token, None)
        if timer is not None:
            timer.cancel()
        if status == "completed":
            application.pa_ref = f"PA{10**9 + secrets.randbelow(9 * 10**9)}"
        with self._db.atomic():  # the new status and the webhook it owes, or neither
            self.store.save(application)
            if application.webhook_url:
                secret = self.credentials[application.api_key]
                self._webhooks.send(
                    application.webhook_url, f"application.{status}", application.token, secret
                )

    def settle(self, token: str, outcome: Outcome, *, requires_invoice: bool = False) -> str | None:
        """Apply the customer's decision; the signed merchant return URL, if one was given."""
        application = self.application(token)
        if application.status not in ("pending", "in progress"):
            raise ValueError(f"application is {application.status} and can no longer be decided")
        application.requires_invoice = requires_invoice
        if outcome == "approve":
            if application.auto_capture:
                self.finish(application, "completed")
            else:
                application.move_to("pending_capture")
                self.store.save(application)
            target, result = application.success_url, "success"
        else:
            self.finish(application, "failed")
            target, result = application.failure_url, "failed"
        if target is None:
            return None
        return signed_return_url(target, token, result, self.credentials[application.api_key])

    def set_requires_invoice(self, token: str, required: bool = True) -> Application:
        """The lender changes its mind about the invoice after the decision (KeyError if none)."""
        application = self.application(token)
        application.requires_invoice = required
        self.store.save(application)
        return application

    def set_amount(self, token: str, amount: int) -> Application:
        """The lender changes the application's amount itself (an underwriter approving less
        than was asked, an edit in the dealer dashboard); KeyError if none, ValueError below 1."""
        if amount < 1:
            raise ValueError("amount must be at least 1 penny")
        application = self.application(token)
        application.amount = amount
        self.store.save(application)
        return application

    async def decide(self, token: str, outcome: Outcome, *, requires_invoice: bool = False) -> str:
        """What the customer does on the page; returns where their browser is sent next."""
        target = self.settle(token, outcome, requires_invoice=requires_invoice)
        return target or f"{self.base_url.rstrip('/')}/continue/{token}"

    async def wait_idle(self, timeout: float = 10) -> None:  # noqa: ASYNC109 - bounded for tests
        """Wait for every scheduled webhook delivery, retries included."""
        async with asyncio.timeout(timeout):
            await self._webhooks.wait_idle()

    def resume(self) -> None:
        """Carry on with a stored state (once, in the serving loop): expire what fell due while
        stopped, re-arm the other expiry timers, send the webhooks still owed."""
        if self._resumed:
            return
        self._resumed = True
        self._webhooks.resume()  # first: expiring below owes new webhooks of its own
        for application in self.store.all():
            if self.refresh(application).is_open:
                self._arm_expiry(application)

    def shutdown(self) -> None:
        """Cancel expiry timers and pending deliveries (`aclose` also closes the HTTP client)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._webhooks.cancel_all()

    async def aclose(self) -> None:
        """Stop timers and deliveries and close the webhook HTTP client (the app's lifespan
        calls this; a parent app that mounts the sandbox does it through `combine`)."""
        self.shutdown()
        await self._webhooks.aclose()
        self._db.close()

    def _arm_expiry(self, application: Application, minimum_delay: float = 0.0) -> None:
        old = self._timers.pop(application.token, None)
        if old is not None:
            old.cancel()
        delay = max(minimum_delay, application.expires_at - self.clock())
        self._timers[application.token] = asyncio.get_running_loop().call_later(
            delay, self._expire_if_due, application.token
        )

    def _expire_if_due(self, token: str) -> None:
        """Timer callback; re-arms when the (possibly injected) clock is not there yet."""
        self._timers.pop(token, None)
        found = self.store.get(token)
        if found is not None and self.refresh(found).is_open:
            self._arm_expiry(found, minimum_delay=_REARM_DELAY)
