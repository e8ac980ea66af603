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
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
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

DEFAULT_PLATFORMS: Mapping[int, str] = {50: "sandbox-passimpay-key"}


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
    ) -> None:
        self.platforms: dict[int, str] = dict(platforms or DEFAULT_PLATFORMS)
        self.callback_url = callback_url
        self.invoice_lifetime = invoice_lifetime
        self.withdraw_settle_seconds = withdraw_settle_seconds
        self.confirmation_gap = confirmation_gap
        self.withdraw_callbacks = False
        self.base_url = ""
        self.balance = Decimal("100000.00")
        self.faults = PassimpayFaults()
        self.calls: Counter[str] = Counter()
        self.addresses = AddressBook()
        self.invoices = invoices.InvoiceBook()
        self.withdrawals = WithdrawalBook()
        self.limiter = WithdrawLimiter(withdraw_min_interval)
        self.deposits: list[SimDeposit] = []
        self._background = Background()
        self._callbacks = CallbackSender(
            self.faults,
            self._background,
            lambda: self.callback_url,
            retry_delay=callback_retry_delay,
        )
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
        """`time.monotonic()` of every `/v2/withdraw` request received."""
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
        """The simulator's clock."""
        return time.monotonic()

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
    ) -> str:
        """Funds arrive on chain for an H2H address or an invoice; returns the txhash."""
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
        deposit = SimDeposit(self.now(), address, amount, txhash, sender, reason is None, reason)
        self.deposits.append(deposit)
        if deposit.credited:
            if invoice is not None:
                invoices.credit(invoice, deposit)
            self._background.spawn(self._confirm(deposit, "invoice" if invoice else "deposit"))
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

    def unblock(self, platform_id: int | None = None) -> None:
        """Lift the rate-limit block of one platform, or of all."""
        self.limiter.unblock(platform_id)

    async def wait_idle(self, timeout: float = 10) -> None:  # noqa: ASYNC109 (public API)
        """Await every scheduled confirmation, settlement and callback delivery."""
        await self._background.idle(timeout)

    async def aclose(self) -> None:
        """Stop background work and close the callback HTTP client.

        Serving `app` on its own does this at shutdown; a parent app that mounts it must call it.
        """
        await self._background.cancel()
        await self._callbacks.aclose()

    def start_withdrawal(self, withdrawal: SimWithdrawal) -> None:
        """Settle a new withdrawal after `withdraw_settle_seconds`, as configured by faults."""
        self._background.spawn(self._settle_later(withdrawal))

    def send_callback(self, platform_id: int, payload: dict[str, Any]) -> None:
        """Sign the exact bytes (compact JSON, `/` escaped as PHP does) and deliver them."""
        body = encode_body(payload, escape_slashes=True)
        self._callbacks.send(body, signature(platform_id, body, self.platforms[platform_id]))

    def _invoice(self, order_id: str) -> SimInvoice:
        invoice = self.invoices.by_order.get(order_id)
        if invoice is None:
            raise ValueError(f"no invoice {order_id!r}")
        return invoice

    async def _confirm(self, deposit: SimDeposit, kind: str) -> None:
        for confirmations, delivered in confirmation_plan(deposit.address.currency, self.faults):
            if confirmations > 1:
                await asyncio.sleep(self.confirmation_gap)
            if delivered:
                payload = callback_body(deposit, confirmations, kind)
                self.send_callback(deposit.address.platform_id, payload)

    async def _settle_later(self, withdrawal: SimWithdrawal) -> None:
        await asyncio.sleep(self.withdraw_settle_seconds)
        if withdrawal.settled_at is None:
            reason = self.faults.withdrawal_failure(withdrawal.order_id)
            self._settle(withdrawal, 2 if reason else 1, reason)

    def _settle(
        self, withdrawal: SimWithdrawal, approve: Literal[1, 2], reason: str | None
    ) -> None:
        settle(withdrawal, approve, reason, self.now())
        if self.withdraw_callbacks:
            payload = {"platformId": withdrawal.platform_id, **withdrawal.fields(settled=True)}
            self.send_callback(withdrawal.platform_id, {**payload, "type": "withdraw"})
