"""H2H deposit addresses (stable per orderId and currency) and the deposit callback body."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sandbox.passimpay import addresses
from sandbox.passimpay.currencies import SimCurrency
from sandbox.passimpay.faults import PassimpayFaults
from sandbox.passimpay.store import CENT, SERVICE_FEE, SimAddress, SimDeposit, SimInvoice
from sandbox.statedb import StateDB, Table

if TYPE_CHECKING:
    from sandbox.passimpay.simulator import PassimpaySandbox


class AddressBook:
    """Addresses handed out per (orderId, paymentId); tag networks share one address per platform
    and tell orders apart by the destination tag, as exchanges do."""

    def __init__(self, db: StateDB | None = None) -> None:
        self._rows = Table(db or StateDB.memory(), "address", SimAddress)
        self.by_order: dict[tuple[str, int], SimAddress] = {
            (found.order_id, found.currency.id): found for _, found in self._rows.load()
        }

    def address(self, platform_id: int, order_id: str, currency: SimCurrency) -> SimAddress:
        """The order's address for this currency, the same on every call."""
        key = (order_id, currency.id)
        if key not in self.by_order:
            seed = f"{platform_id}:{order_id}:{currency.id}"
            if currency.tag:
                address = addresses.address(currency.family, f"{platform_id}:{currency.id}")
                tag: str | None = addresses.destination_tag(seed)
            else:
                address, tag = addresses.address(currency.family, seed), None
            self.by_order[key] = SimAddress(platform_id, order_id, currency, address, tag)
            self._rows.put(f"{order_id}\n{currency.id}", self.by_order[key])
        return self.by_order[key]

    def find(self, order_id: str, payment_id: int | None) -> SimAddress:
        """The address a test deposits to; `payment_id` may be left out when the order has one."""
        found = [
            address
            for (order, pid), address in self.by_order.items()
            if order == order_id and payment_id in (None, pid)
        ]
        if len(found) != 1:
            wanted = f"orderId {order_id!r}" + (f" paymentId {payment_id}" if payment_id else "")
            raise ValueError(f"{wanted} has {len(found)} deposit addresses; name the paymentId")
        return found[0]


def callback_body(deposit: SimDeposit, confirmations: int, kind: str) -> dict[str, Any]:
    """The deposit callback, with the extra `type`/`status` fields clients must ignore."""
    address = deposit.address
    return {
        "platformId": address.platform_id,
        "paymentId": address.currency.id,
        "orderId": address.order_id,
        "amount": format(deposit.amount, "f"),
        "txhash": deposit.txhash,
        "addressFrom": deposit.address_from,
        "addressTo": address.address,
        "confirmations": confirmations,
        "destinationTag": address.tag,
        "type": kind,
        "status": "success",
    }


def confirmation_plan(currency: SimCurrency, faults: PassimpayFaults) -> list[tuple[int, bool]]:
    """The callbacks one credited deposit produces, a confirmation gap apart, as
    (confirmations, delivered): UTXO coins at 1 and 2, once at a higher count, or with the
    second one lost, as the `utxo_callbacks` switch says; every other coin once at 1."""
    if not currency.utxo:
        return [(1, True)]
    match faults.utxo_mode:
        case "single_higher":
            return [(faults.utxo_single_confirmations, True)]
        case "lose_second":
            return [(1, True), (2, False)]
    return [(1, True), (2, True)]


def final_delay(deposit: SimDeposit, gap: float) -> float:
    """Seconds after arrival at which the provider holds a deposit as final (its last callback)."""
    return gap if deposit.address.currency.utxo else 0.0


def address_status(
    sim: PassimpaySandbox, platform_id: int, order_id: str, *, v3: bool
) -> dict[str, Any] | None:
    """Orderstatus for an H2H orderId (`address_orderstatus` switch): `wait`, with `amountPaid`
    the order's credited deposits in the coin of its latest one (in USD under `fiat`); deposits
    count once final (their last confirmation), or once seen. None when it has no address."""
    found = [
        a
        for (order, _), a in sim.addresses.by_order.items()
        if order == order_id and a.platform_id == platform_id
    ]
    if not found:
        return None
    at = sim.status_time()
    mine = [
        d for d in sim.deposits if d.address in found and d.credited and d.counted and d.at <= at
    ]
    address = mine[-1].address if mine else found[0]
    wait = sim.faults.address_status != "seen"
    counted = [
        d.amount
        for d in mine
        if d.address == address
        and d.at + (final_delay(d, sim.confirmation_gap) if wait else 0.0) <= at
    ]
    currency = address.currency
    coin = sum(counted, Decimal(0))
    if sim.faults.address_status == "fiat":
        paid, unit, quantum = (coin * currency.rate_usd).quantize(CENT), "USD", CENT
    else:
        paid, unit, quantum = coin, currency.ticker, currency.quantum
    fields: dict[str, Any] = {"status": "wait", "amountPaid": format(paid, "f"), "currency": unit}
    if v3:
        fee = (paid * SERVICE_FEE).quantize(quantum, ROUND_HALF_UP)
        fields |= {
            "amountCreditedMerchant": format(paid - fee, "f"),
            "amountCreditedUser": format(paid, "f"),
            "feeService": format(fee, "f"),
            "feeNetwork": "0",
        }
    return fields


def expiry_notice(
    invoice: SimInvoice, faults: PassimpayFaults, now: float
) -> dict[str, Any] | None:
    """The callback sent when a partially paid invoice expires (`partial_expiry_callback`):
    the amount received under a new txhash, or a repeat of the last partial payment's callback
    (same txhash, its last confirmation count). No new money either way."""
    payments = [p for p in invoice.payments if not p.late and p.deposit.at <= now]
    if faults.expiry_callback == "none" or not payments or invoice.status(now) != "error":
        return None
    last = payments[-1].deposit
    currency = last.address.currency
    if faults.expiry_callback == "repeat":
        confirmations = confirmation_plan(currency, faults)[-1][0]
        return callback_body(last, confirmations, "invoice")
    received = sum(
        (p.deposit.amount for p in payments if p.deposit.address.currency.id == currency.id),
        Decimal(0),
    )
    notice = SimDeposit(
        now,
        last.address,
        received,
        addresses.txhash(currency.family),
        last.address_from,
        credited=True,
        reason="expiry notice",
    )
    return callback_body(notice, 1, "invoice")
