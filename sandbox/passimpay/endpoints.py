"""The provider's business endpoints: read one verified request, change state, build the reply."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sandbox.passimpay import addresses
from sandbox.passimpay.currencies import CURRENCIES, FIAT_USD, SimCurrency
from sandbox.passimpay.deposits import address_status
from sandbox.passimpay.store import ORDER_NOT_FOUND, WITHDRAWAL_NOT_FOUND, Refusal

if TYPE_CHECKING:
    from sandbox.passimpay.simulator import PassimpaySandbox

ORDER_ID = re.compile(r"[A-Za-z0-9+/=\-:.,_]{1,64}")
INVOICE_AMOUNT = re.compile(r"[0-9]+\.[0-9]{2}")


@dataclass(frozen=True)
class Call:
    """One request whose signature has been checked."""

    platform_id: int
    payload: dict[str, Any]
    base_url: str


Handler = Callable[["PassimpaySandbox", Call], dict[str, Any]]


def _order_id(call: Call) -> str:
    value = call.payload.get("orderId")
    if not isinstance(value, str) or not ORDER_ID.fullmatch(value):
        raise Refusal("Invalid orderId")
    return value


def _currency(call: Call) -> SimCurrency:
    value = call.payload.get("paymentId")
    currency = CURRENCIES.get(value) if isinstance(value, int) else None
    if currency is None:
        raise Refusal("Invalid paymentId")
    return currency


def _decimal(value: Any) -> Decimal:
    """A positive amount sent as a string (or a JSON number), never through float."""
    try:
        amount = Decimal(str(value)) if isinstance(value, str | int | Decimal) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0:
        raise Refusal("Invalid amount")
    return amount


def _symbol(call: Call) -> str | None:
    symbol = call.payload.get("symbol")
    if symbol is not None and symbol not in FIAT_USD:
        raise Refusal("Invalid symbol")
    return symbol


def currencies(sim: PassimpaySandbox, call: Call) -> dict[str, Any]:
    """`/v2/currencies`."""
    style = sim.faults.currency_style
    return {"list": [currency.listing(style) for currency in CURRENCIES.values()]}


def balance(sim: PassimpaySandbox, call: Call) -> dict[str, Any]:
    """`/v2/balance`."""
    return {"balance": format(sim.balance, "f")}


def address(sim: PassimpaySandbox, call: Call) -> dict[str, Any]:
    """`/v2/address`: the order's deposit address for one currency, with a tag where needed."""
    found = sim.addresses.address(call.platform_id, _order_id(call), _currency(call))
    reply: dict[str, Any] = {"address": found.address}
    if found.tag is not None:
        reply["destinationTag"] = found.tag
    return reply


def create_order(sim: PassimpaySandbox, call: Call) -> dict[str, Any]:
    """`/v2/createorder`: a fixed-amount invoice and the URL of its hosted page."""
    order_id = _order_id(call)
    text = call.payload.get("amount")
    if not isinstance(text, str) or not INVOICE_AMOUNT.fullmatch(text):
        raise Refusal("Invalid amount")
    amount = _decimal(text)
    symbol = _symbol(call) or "USD"
    accepted = None
    if call.payload.get("currencies"):
        try:
            accepted = tuple(int(part) for part in str(call.payload["currencies"]).split(","))
        except ValueError:
            raise Refusal("Invalid currencies") from None
        if not all(payment_id in CURRENCIES for payment_id in accepted):
            raise Refusal("Invalid currencies")
    if call.payload.get("type", 0) not in (0, 1, 2):
        raise Refusal("Invalid type")
    sim.invoices.create(
        call.platform_id,
        order_id,
        amount,
        symbol,
        accepted,
        now=sim.now(),
        lifetime=sim.invoice_lifetime,
    )
    base = (sim.base_url or call.base_url).rstrip("/")
    return {"url": f"{base}/pay/{quote(order_id, safe='')}"}


def order_status(sim: PassimpaySandbox, call: Call, *, v3: bool = False) -> dict[str, Any]:
    """`/v2/orderstatus`: status, amountPaid and currency."""
    order_id = _order_id(call)
    if order_id not in sim.invoices.by_order and sim.faults.address_status != "none":
        fields = address_status(sim, call.platform_id, order_id, v3=v3)
    else:
        invoice = sim.invoices.get(call.platform_id, order_id)
        fields = invoice.status_fields(
            sim.status_time(),
            v3=v3,
            unit=sim.faults.paid_unit,
            late=sim.faults.late_paid == "counted",
        )
    if fields is None:
        raise Refusal(ORDER_NOT_FOUND)
    return fields | {"status": "processing"} if sim.faults.undocumented else fields


def order_status_v3(sim: PassimpaySandbox, call: Call) -> dict[str, Any]:
    """`/v3/orderstatus`: as v2 plus credited amounts and fees."""
    return order_status(sim, call, v3=True)


def withdraw(sim: PassimpaySandbox, call: Call) -> dict[str, Any]:
    """`/v2/withdraw`: commit one payout per orderId; it settles later."""
    currency = _currency(call)
    address_to = call.payload.get("addressTo")
    if not isinstance(address_to, str) or not addresses.payout_address_ok(address_to, currency.tag):
        raise Refusal("Invalid addressTo")
    amount = _decimal(call.payload.get("amount"))
    symbol = _symbol(call)
    if symbol is not None:
        usd = amount * FIAT_USD[symbol]
        amount = (usd / currency.rate_usd).quantize(currency.quantum, ROUND_DOWN)
    if amount <= 0 or amount != amount.quantize(currency.quantum, ROUND_DOWN):
        raise Refusal("Invalid amount")
    withdrawal = sim.withdrawals.create(
        call.platform_id, _order_id(call), currency, address_to, amount, sim.now()
    )
    sim.start_withdrawal(withdrawal)
    return {
        "paymentId": currency.id,
        "addressTo": address_to,
        "amount": format(amount, "f"),
        "transactionId": withdrawal.transaction_id,
    }


def withdraw_status(sim: PassimpaySandbox, call: Call) -> dict[str, Any]:
    """`/v2/withdrawstatus` by orderId or transactionId."""
    transaction_id = call.payload.get("transactionId")
    order_id = _order_id(call) if transaction_id is None else None
    withdrawal = sim.withdrawals.find(
        call.platform_id,
        order_id=order_id,
        transaction_id=None if transaction_id is None else str(transaction_id),
    )
    fields = withdrawal.status_fields(sim.status_time())
    if fields is None:
        raise sim.withdrawals.refusal(WITHDRAWAL_NOT_FOUND)
    if sim.faults.undocumented:
        fields |= {"approve": 3}
    return sim.withdrawals.spelled(withdrawal, fields)


ENDPOINTS: dict[str, Handler] = {
    "/v2/currencies": currencies,
    "/v2/balance": balance,
    "/v2/address": address,
    "/v2/createorder": create_order,
    "/v2/orderstatus": order_status,
    "/v3/orderstatus": order_status_v3,
    "/v2/withdraw": withdraw,
    "/v2/withdrawstatus": withdraw_status,
}
"""Provider path -> handler; every one is a signed POST."""
