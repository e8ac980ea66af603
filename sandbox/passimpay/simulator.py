"""The Passimpay simulator: provider state, signed callbacks and the control API tests drive.

Decisions where the provider's documentation is silent:
- Deposits are credited when `deposit()` runs; UTXO coins (BTC, LTC, DOGE, DASH, BCH) are
  called back at confirmations 1 and then 2 (`confirmation_gap` apart), every other coin once
  at confirmation 1. No callback at all for a deposit without its tag or under `minDeposit`.
- Invoice expiry sends no callback of its own unless `partial_expiry_callback` says so;
  deposits after expiry are recorded (status stays `error`, `amountPaid` grows) and are called
  back like any other.
- `status_lag` shows status as of `now - lag`: an object younger than the lag is not found yet.
- Orderstatus by an H2H address's orderId answers `wait` with the order's deposits received
  (once final, i.e. at their last confirmation); `address_orderstatus("none")` makes it "Order
  not found" as for any unknown orderId. Each open question of providers.md section 3 has a
  switch in `PassimpayFaults` (`amount_paid_unit`, `currency_list`, `utxo_callbacks`,
  `partial_expiry_callback`, `address_orderstatus`); `clear()` restores the defaults.
- Every withdraw request naming a known platform counts for its rate limit, before the
  signature is checked and before any injected fault.

With a `state_file`, platforms, addresses, deposits, invoices, withdrawals, owed confirmations
and callbacks live in SQLite too; a new simulator on the same file carries on (its clock then
reads wall-clock seconds, so stored times keep their meaning). Faults, settings changed through
the control routes, counters and the rate limiter start afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from providers.passimpay.signing import encode_body, signature
from sandbox.passimpay import addresses, invoices
from sandbox.passimpay.delivery import CallbackDelivery, CallbackSender
from sandbox.passimpay.deposits import (
    AddressBook,
    callback_body,
    confirmation_plan,
    expiry_notice,
)
from sandbox.passimpay.faults import PassimpayFaults
from sandbox.passimpay.routes import build_app
from sandbox.passimpay.store import SimDeposit, SimInvoice, SimWithdrawal
from sandbox.passimpay.tasks import Background
from sandbox.passimpay.withdrawals import WithdrawalBook, WithdrawLimiter, settle
from sandbox.statedb import StateDB, Table

DEFAULT_PLATFORMS: Mapping[int, str] = {50: "sandbox-passimpay-key"}


@dataclass(frozen=True)
class PendingConfirmations:
    """The callbacks a credited deposit still owes, as (confirmations, delivered), the next one
    due at `due` on the simulator's clock."""

    deposit: SimDeposit
    kind: str
    steps: tuple[tuple[int, bool], ...]
    due: float


JOURNAL_KEPT = 100_000


class PassimpaySandbox:
    """A stateful Passimpay: provider API, hosted invoice page, signed callbacks and faults."""

    def __init__(
        self,
        platforms: Mapping[int, str] | None = None,
        *,
        callback_url: str | None = None,
        invoice_lifetime: float = 3600.0,
        callback_retry_delay: float = 1.0,
        withdraw_settle_seconds: float = 2.0,
        withdraw_min_interval: float = 1.0,
        confirmation_gap: float = 0.5,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._db = StateDB.open(state_file) if state_file is not None else StateDB.memory()
        self._clock_offset = time.time() - time.monotonic() if self._db.persistent else 0.0
        stored_platforms = Table(self._db, "platform", str)
        given = dict(platforms or DEFAULT_PLATFORMS)
        for platform_id, secret in given.items():
            stored_platforms.put(str(platform_id), secret)
        self.platforms: dict[int, str] = {
            int(platform_id): secret for platform_id, secret in stored_platforms.load()
        } | given
        self.callback_url = callback_url
        self.invoice_lifetime = invoice_lifetime
        self.withdraw_settle_seconds = withdraw_settle_seconds
        self.confirmation_gap = confirmation_gap
        self.withdraw_callbacks = False
        self.base_url = ""
        self.balance = Decimal("100000.00")
        self.faults = PassimpayFaults()
        self.calls: Counter[str] = Counter()
        self.journal: deque[tuple[str, str | None]] = deque(maxlen=JOURNAL_KEPT)
        """Every JSON call: the path, and the orderId it named. (the latest 100 000)."""
        self.addresses = AddressBook(self._db)
        self.invoices = invoices.InvoiceBook(self._db)
        self.withdrawals = WithdrawalBook(self._db)
        self.limiter = WithdrawLimiter(withdraw_min_interval)
        self._deposit_rows = Table(self._db, "deposit", SimDeposit)
        self.deposits: list[SimDeposit] = [deposit for _, deposit in self._deposit_rows.load()]
        self._confirmations = Table(self._db, "confirmations", PendingConfirmations)
        self._background = Background()
        self._settled_early: dict[str, asyncio.Event] = {}
        """Wakes a withdrawal's settle timer when a control call settled it first."""
        self._callbacks = CallbackSender(
            self.faults,
            self._background,
            lambda: self.callback_url,
            retry_delay=callback_retry_delay,
            clock=self.now,
            db=self._db,
        )
        self._resumed = False
        self.app = build_app(self)

    @property
    def callback_log(self) -> list[CallbackDelivery]:
        """Every callback delivery attempt, in order."""
        return self._callbacks.log

    @property
    def callback_retry_delay(self) -> float:
        """Seconds between delivery attempts of one callback."""
        return self._callbacks.retry_delay

    @callback_retry_delay.setter
    def callback_retry_delay(self, seconds: float) -> None:
        self._callbacks.retry_delay = seconds

    @property
    def withdraw_min_interval(self) -> float:
        """The provider's minimum time between two withdraw requests of one platform."""
        return self.limiter.min_interval

    @withdraw_min_interval.setter
    def withdraw_min_interval(self, seconds: float) -> None:
        self.limiter.min_interval = seconds

    @property
    def withdraw_calls(self) -> list[float]:
        """`now()` of every `/v2/withdraw` request received."""
        return self.limiter.calls

    @property
    def violations(self) -> int:
        """Withdraw requests that came sooner than `withdraw_min_interval` after the previous."""
        return self.limiter.violations

    @property
    def payouts(self) -> Counter[str]:
        """Committed withdrawals per orderId: more than 1 anywhere is a double payout."""
        return self.withdrawals.payouts

    def min_withdraw_gap(self) -> float | None:
        """The shortest time seen between two consecutive withdraw requests."""
        return self.limiter.min_gap()

    def now(self) -> float:
        """The simulator's clock: monotonic, and in wall-clock seconds when state is stored."""
        return time.monotonic() + self._clock_offset

    def status_time(self) -> float:
        """The moment status endpoints report: now, or the past under `status_lag`."""
        return self.now() - self.faults.lag

    async def deposit(
        self,
        order_id: str,
        amount: Decimal | str,
        *,
        payment_id: int | None = None,
        txhash: str | None = None,
        with_tag: bool = True,
        counted: bool = True,
    ) -> str:
        """Funds arrive on chain for an H2H address or an invoice; returns the txhash. With
        `counted=False` its callbacks are sent but orderstatus never counts it (the provider
        contradicting itself)."""
        amount = Decimal(amount)
        invoice = self.invoices.by_order.get(order_id)
        if invoice is not None:
            currency = invoices.currency_for(invoice, payment_id)
            address = self.addresses.address(invoice.platform_id, order_id, currency)
        else:
            address = self.addresses.find(order_id, payment_id)
            currency = address.currency
        reason = None
        if currency.tag and not with_tag:
            reason = "no destination tag"
        elif amount < currency.min_deposit:
            reason = "under minDeposit"
        txhash = txhash or addresses.txhash(currency.family)
        sender = addresses.address(currency.family, f"from:{txhash}")
        deposit = SimDeposit(
            self.now(), address, amount, txhash, sender, reason is None, reason, counted
        )
        with self._db.atomic():  # the deposit, what it credits and the callbacks it owes
            self._deposit_rows.put(str(len(self.deposits)), deposit)
            self.deposits.append(deposit)
            if deposit.credited:
                if invoice is not None and counted:
                    invoices.credit(invoice, deposit)
                    self.invoices.save(invoice)
                self._owe_confirmations(deposit, "invoice" if invoice else "deposit")
        return txhash

    async def pay(
        self, order_id: str, *, payment_id: int | None = None, amount: Decimal | None = None
    ) -> str:
        """Pay an invoice as the hosted page does: `amount` in its symbol (default: the rest)."""
        invoice = self._invoice(order_id)
        currency = invoices.currency_for(invoice, payment_id)
        fiat = amount if amount is not None else invoice.amount - invoice.paid(self.now())
        if fiat <= 0:
            raise ValueError(f"invoice {order_id!r} has nothing left to pay")
        crypto = invoices.crypto_for(invoice, currency, fiat)
        return await self.deposit(order_id, crypto, payment_id=currency.id)

    def expire_invoice(self, order_id: str) -> None:
        """End an invoice's lifetime now (with the `partial_expiry_callback` notice, if set)."""
        invoice = self._invoice(order_id)
        invoice.expires_at = self.now()
        with self._db.atomic():
            self.invoices.save(invoice)
            notice = expiry_notice(invoice, self.faults, self.now())
            if notice is not None:
                self.send_callback(invoice.platform_id, notice)

    def withdrawal(self, order_id: str) -> SimWithdrawal | None:
        """The latest withdrawal committed for this orderId, if any (whatever `order_ids` is)."""
        found = self.withdrawals.by_order.get(order_id)
        for withdrawal in self.withdrawals.by_transaction.values():
            if withdrawal.order_id == order_id:
                found = withdrawal
        return found

    def settle_withdrawal(
        self, order_id: str, approve: Literal[1, 2], reason: str | None = None
    ) -> None:
        """Settle a pending withdrawal now instead of after `withdraw_settle_seconds`."""
        withdrawal = self.withdrawal(order_id)
        if withdrawal is None:
            raise ValueError(f"no withdrawal {order_id!r}")
        self._settle(withdrawal, approve, reason)
        if (early := self._settled_early.get(order_id)) is not None:
            early.set()

    def unblock(self, platform_id: int | None = None) -> None:
        """Lift the rate-limit block of one platform, or of all."""
        self.limiter.unblock(platform_id)

    async def wait_idle(self, timeout: float = 10) -> None:  # noqa: ASYNC109 (public API)
        """Await every scheduled confirmation, settlement and callback delivery."""
        await self._background.idle(timeout)

    def resume(self) -> None:
        """Carry on with a stored state (once, in the serving loop): owed confirmations and
        callbacks, and settlements of pending withdrawals."""
        if self._resumed:
            return
        self._resumed = True
        self._callbacks.resume()  # first: the work below owes new callbacks of its own
        for key, pending in self._confirmations.load():
            self._background.spawn(self._confirm(key, pending))
        for withdrawal in self.withdrawals.pending():
            self.start_withdrawal(withdrawal)

    async def aclose(self) -> None:
        """Stop background work, close the callback HTTP client and the state db.

        Serving `app` on its own does this at shutdown; a parent app that mounts it must call it.
        """
        await self._background.cancel()
        await self._callbacks.aclose()
        self._db.close()

    def start_withdrawal(self, withdrawal: SimWithdrawal) -> None:
        """Settle a new withdrawal after `withdraw_settle_seconds`, as configured by faults."""
        self._background.spawn(self._settle_later(withdrawal))

    def send_callback(self, platform_id: int, payload: dict[str, Any]) -> None:
        """Sign the exact bytes (compact JSON, `/` escaped as PHP does) and deliver them."""
        body = encode_body(payload, escape_slashes=True)
        if self.faults.callback_numbers == "numbers" and isinstance(payload.get("amount"), str):
            quoted = encode_body({"amount": payload["amount"]})[1:-1]  # "amount":"12.5"
            body = body.replace(quoted, quoted.replace(b':"', b":").removesuffix(b'"'), 1)
        self._callbacks.send(body, signature(platform_id, body, self.platforms[platform_id]))

    def _invoice(self, order_id: str) -> SimInvoice:
        invoice = self.invoices.by_order.get(order_id)
        if invoice is None:
            raise ValueError(f"no invoice {order_id!r}")
        return invoice

    def _owe_confirmations(self, deposit: SimDeposit, kind: str) -> None:
        steps = tuple(confirmation_plan(deposit.address.currency, self.faults))
        pending = PendingConfirmations(deposit, kind, steps, self._step_due(steps[0]))
        key = secrets.token_hex(8)
        self._confirmations.put(key, pending)
        self._background.spawn(self._confirm(key, pending))

    def _step_due(self, step: tuple[int, bool]) -> float:
        """A confirmation past the first comes a `confirmation_gap` after the previous step."""
        return self.now() + (self.confirmation_gap if step[0] > 1 else 0.0)

    async def _confirm(self, key: str, pending: PendingConfirmations) -> None:
        while pending.steps:
            wait = pending.due - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            (confirmations, delivered), *rest = pending.steps
            with self._db.atomic():  # this step's callback owed, or the step still to do
                if delivered:
                    payload = callback_body(pending.deposit, confirmations, pending.kind)
                    self.send_callback(pending.deposit.address.platform_id, payload)
                if rest:
                    due = self._step_due(rest[0])
                    pending = dataclasses.replace(pending, steps=tuple(rest), due=due)
                    self._confirmations.put(key, pending)
                else:
                    pending = dataclasses.replace(pending, steps=())
                    self._confirmations.delete(key)

    async def _settle_later(self, withdrawal: SimWithdrawal) -> None:
        due = withdrawal.created_at + self.withdraw_settle_seconds
        early = self._settled_early.setdefault(withdrawal.order_id, asyncio.Event())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(early.wait(), max(0.0, due - self.now()))
        finally:
            self._settled_early.pop(withdrawal.order_id, None)
        if withdrawal.settled_at is None:
            reason = self.faults.withdrawal_failure(withdrawal.order_id)
            self._settle(withdrawal, 2 if reason else 1, reason)

    def _settle(
        self, withdrawal: SimWithdrawal, approve: Literal[1, 2], reason: str | None
    ) -> None:
        settle(withdrawal, approve, reason, self.now())
        with self._db.atomic():
            self.withdrawals.save(withdrawal)
            if self.withdraw_callbacks:
                payload = {"platformId": withdrawal.platform_id, **withdrawal.fields(settled=True)}
                self.send_callback(withdrawal.platform_id, {**payload, "type": "withdraw"})
