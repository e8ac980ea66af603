"""Which amounts in a flow's view moved money: pure, so the ledger and its tests agree."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from state.ledger_models import Movement

PENCE = Decimal(100)
FUNDED = frozenset({"completed", "invoiced"})
"""Checkout statuses in which the lender has funded the order."""
INVOICE_PAID = frozenset({"paid", "credited_partial"})
"""Invoice statuses in which the payer's money is the merchant's."""


def movements(kind: str, view: Mapping[str, Any]) -> list[Movement]:
    """Every amount the view shows as moved, each with a key stable across writes."""
    if kind == "checkout":
        return _funded(view)
    if kind == "invoice":
        return _invoice_paid(view)
    if kind == "address":
        return _credited(kind, view)
    if kind == "withdrawal":
        return _paid_out(view)
    raise ValueError(f"unknown kind of flow {kind!r}")


def _funded(view: Mapping[str, Any]) -> list[Movement]:
    if view.get("status") not in FUNDED:
        return []
    return [
        Movement(
            key="funded",
            type="checkout.funded",
            amount=Decimal(int(view["amount"])) / PENCE,
            currency="GBP",
            direction="in",
            reference=view.get("pa_ref"),
        )
    ]


def _invoice_paid(view: Mapping[str, Any]) -> list[Movement]:
    """An invoice's money is what Passimpay's status says was paid when it ended (its
    deposits are the parts of that total, not more money)."""
    reading = view.get("ended_with") or view.get("provider") or {}
    if view.get("status") not in INVOICE_PAID or reading.get("amount_paid") is None:
        return []
    return [
        Movement(
            key="paid",
            type="invoice.received",
            amount=Decimal(str(reading["amount_paid"])),
            currency=reading.get("currency") or "USD",
            direction="in",
            reference=view.get("order_id"),
        )
    ]


def _credited(kind: str, view: Mapping[str, Any]) -> list[Movement]:
    return [
        Movement(
            key=f"deposit:{deposit['payment_id']}:{deposit['txhash']}",
            type=f"{kind}.credited",
            amount=Decimal(str(deposit["amount"])),
            currency=f"passimpay:{deposit['payment_id']}",
            direction="in",
            reference=deposit["txhash"],
        )
        for deposit in view.get("deposits") or []
        if deposit.get("credited_at") is not None
    ]


def _paid_out(view: Mapping[str, Any]) -> list[Movement]:
    if view.get("status") != "paid":
        return []
    request = view["request"]
    return [
        Movement(
            key="paid_out",
            type="withdrawal.paid_out",
            amount=Decimal(str(request["amount"])),
            currency=view.get("currency") or f"passimpay:{request['payment_id']}",
            direction="out",
            reference=view.get("transaction_id") or view.get("txhash"),
        )
    ]
