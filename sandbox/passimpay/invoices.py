"""Invoice links: creation, currency choice, and crypto <-> fiat conversion at `rateUsd`."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from sandbox.passimpay.currencies import CURRENCIES, DEFAULT_INVOICE_CURRENCY, FIAT_USD, SimCurrency
from sandbox.passimpay.store import (
    CENT,
    ORDER_NOT_FOUND,
    InvoicePayment,
    Refusal,
    SimDeposit,
    SimInvoice,
)
from sandbox.statedb import StateDB, Table


class InvoiceBook:
    """All invoices by orderId; an orderId is used once per provider."""

    def __init__(self, db: StateDB | None = None) -> None:
        self._rows = Table(db or StateDB.memory(), "invoice", SimInvoice)
        self.by_order: dict[str, SimInvoice] = dict(self._rows.load())

    def create(
        self,
        platform_id: int,
        order_id: str,
        amount: Decimal,
        symbol: str,
        currencies: tuple[int, ...] | None,
        *,
        now: float,
        lifetime: float,
    ) -> SimInvoice:
        """Open a new invoice; a reused orderId is refused."""
        if order_id in self.by_order:
            raise Refusal("Order with this orderId already exists")
        invoice = SimInvoice(platform_id, order_id, amount, symbol, currencies, now, now + lifetime)
        self.by_order[order_id] = invoice
        self.save(invoice)
        return invoice

    def save(self, invoice: SimInvoice) -> None:
        """Write a changed invoice through (a payment credited, its expiry moved)."""
        self._rows.put(invoice.order_id, invoice)

    def get(self, platform_id: int, order_id: str) -> SimInvoice:
        """One platform's invoice, or the not-found refusal."""
        invoice = self.by_order.get(order_id)
        if invoice is None or invoice.platform_id != platform_id:
            raise Refusal(ORDER_NOT_FOUND)
        return invoice


def currency_for(invoice: SimInvoice, payment_id: int | None) -> SimCurrency:
    """The currency a payer uses: one the invoice allows (its first, or USDT TRC20, by default)."""
    allowed = invoice.currencies or tuple(CURRENCIES)
    if payment_id is None:
        payment_id = invoice.currencies[0] if invoice.currencies else DEFAULT_INVOICE_CURRENCY
    if payment_id not in allowed:
        raise ValueError(f"paymentId {payment_id} is not accepted by invoice {invoice.order_id!r}")
    return CURRENCIES[payment_id]


def credit(invoice: SimInvoice, deposit: SimDeposit) -> InvoicePayment:
    """Record a credited deposit at its fiat value; after expiry it is kept but marked late."""
    usd = deposit.amount * deposit.address.currency.rate_usd
    fiat = (usd / FIAT_USD[invoice.symbol]).quantize(CENT, ROUND_DOWN)
    payment = InvoicePayment(deposit, fiat, late=deposit.at >= invoice.expires_at)
    invoice.payments.append(payment)
    return payment


def crypto_for(invoice: SimInvoice, currency: SimCurrency, fiat: Decimal) -> Decimal:
    """The crypto amount worth at least `fiat` in the invoice's symbol."""
    usd = fiat * FIAT_USD[invoice.symbol]
    return (usd / currency.rate_usd).quantize(currency.quantum, ROUND_CEILING)
