"""What the simulated provider remembers: addresses, deposits, invoices and withdrawals.

Records keep the time of every change, so status can be answered as of any moment
(the `status_lag` fault reads the past).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sandbox.passimpay.currencies import SimCurrency

CENT = Decimal("0.01")
SERVICE_FEE = Decimal("0.005")
"""0.5% service fee on invoices and withdrawals."""

ORDER_NOT_FOUND = "Order not found"
WITHDRAWAL_NOT_FOUND = "Withdrawal not found"


class Refusal(Exception):
    """The provider says no: HTTP 400 `{"result": 0, "message": ...}`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(amount: Decimal) -> str:
    return format(amount, "f")


@dataclass(frozen=True)
class SimAddress:
    """A deposit address handed out for one (orderId, paymentId)."""

    platform_id: int
    order_id: str
    currency: SimCurrency
    address: str
    tag: str | None


@dataclass(frozen=True)
class SimDeposit:
    """Funds that arrived on the chain; only credited ones produce callbacks."""

    at: float
    address: SimAddress
    amount: Decimal
    txhash: str
    address_from: str
    credited: bool
    reason: str | None = None
    counted: bool = True
    """Whether the provider's own orderstatus counts it (False: a callback it contradicts)."""


@dataclass(frozen=True)
class InvoicePayment:
    """A credited deposit into an invoice, worth `fiat` in the invoice's symbol."""

    deposit: SimDeposit
    fiat: Decimal
    late: bool


@dataclass
class SimInvoice:
    """A fixed-amount invoice; `wait` until fully paid, `error` once expired unpaid."""

    platform_id: int
    order_id: str
    amount: Decimal
    symbol: str
    currencies: tuple[int, ...] | None
    created_at: float
    expires_at: float
    payments: list[InvoicePayment] = field(default_factory=list)

    def ended_at(self) -> float:
        """When the invoice ended: its paying payment, else its expiry."""
        total = Decimal(0)
        for payment in self.payments:
            if payment.late:
                break
            total += payment.fiat
            if total >= self.amount:
                return payment.deposit.at
        return self.expires_at

    def arrived(self, at: float, *, late: bool = True) -> list[InvoicePayment]:
        """Payments received up to `at`; those after the end only when `late`."""
        end = at if late else min(at, self.ended_at())
        return [p for p in self.payments if p.deposit.at <= end]

    def paid(self, at: float, *, late: bool = True) -> Decimal:
        """Fiat received up to `at`, late payments included when `late`."""
        return sum((p.fiat for p in self.arrived(at, late=late)), Decimal("0.00"))

    def status(self, at: float) -> Literal["paid", "wait", "error"]:
        """`paid` once the amount arrived before expiry, else `error` after expiry, else `wait`."""
        total = Decimal(0)
        for payment in self.payments:
            if payment.deposit.at > at or payment.late:
                break
            total += payment.fiat
            if total >= self.amount:
                return "paid"
        return "error" if at >= self.expires_at else "wait"

    def status_fields(
        self, at: float, *, v3: bool, unit: str = "fiat", late: bool = True
    ) -> dict[str, Any] | None:
        """The `/v2` or `/v3/orderstatus` reply as of `at`; None if it did not exist yet.

        `unit` answers the open question of `amountPaid`'s unit: `fiat` (the invoice's symbol)
        or `coin` (the coin of the latest payment, summing only that coin's payments); `late`
        whether coins that came after the end still count.
        """
        if at < self.created_at:
            return None
        paid, currency, quantum = self.paid(at, late=late), self.symbol, CENT
        arrived = [p.deposit for p in self.arrived(at, late=late)]
        if unit == "coin" and arrived:
            coin = arrived[-1].address.currency
            paid = sum((d.amount for d in arrived if d.address.currency == coin), Decimal(0))
            currency, quantum = coin.ticker, coin.quantum
        fields: dict[str, Any] = {
            "status": self.status(at),
            "amountPaid": _text(paid),
            "currency": currency,
        }
        if v3:
            fee_service = (paid * SERVICE_FEE).quantize(quantum, ROUND_HALF_UP)
            fee_network = Decimal("0.00")
            fields |= {
                "amountCreditedMerchant": _text(paid - fee_service - fee_network),
                "amountCreditedUser": _text(paid),
                "feeService": _text(fee_service),
                "feeNetwork": _text(fee_network),
            }
        return fields


@dataclass
class SimWithdrawal:
    """A payout: pending (approve 0) until settled as success (1) or failure (2)."""

    platform_id: int
    order_id: str
    transaction_id: str
    currency: SimCurrency
    address_to: str
    amount: Decimal
    created_at: float
    fee_network: Decimal
    fee_service: Decimal
    approve: Literal[0, 1, 2] = 0
    settled_at: float | None = None
    txhash: str | None = None
    reason: str | None = None

    def status_fields(self, at: float) -> dict[str, Any] | None:
        """The `/v2/withdrawstatus` reply as of `at`; None if it did not exist yet."""
        if at < self.created_at:
            return None
        return self.fields(settled=self.settled_at is not None and self.settled_at <= at)

    def fields(self, *, settled: bool) -> dict[str, Any]:
        """The withdrawal's fields, pending unless `settled` (callbacks use the settled view)."""
        approve = self.approve if settled else 0
        fields: dict[str, Any] = {
            "approve": approve,
            "transactionId": self.transaction_id,
            "orderId": self.order_id,
            "paymentId": self.currency.id,
            "addressTo": self.address_to,
            "amount": _text(self.amount),
            "txhash": self.txhash if approve == 1 else None,
            "confirmations": (2 if self.currency.utxo else 1) if approve == 1 else 0,
            "amountDebited": _text(self.amount + self.fee_network + self.fee_service),
            "feeNetwork": _text(self.fee_network),
            "feeService": _text(self.fee_service),
        }
        if approve == 2:
            fields |= {"amountDebited": "0", "reason": self.reason, "message": self.reason}
        return fields
