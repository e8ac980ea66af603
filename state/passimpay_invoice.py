"""The Passimpay invoice-link lifecycle: fixed amount, partial payments, expiry and its policy."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field
from statemachine import State, StateMachine

from state.lifecycle import Lifecycle


class InvoiceStatus(StrEnum):
    """Where an invoice stands; also the `PaymentStatus` search attribute."""

    CREATED = "created"
    AWAITING_PAYMENT = "awaiting_payment"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    EXPIRED = "expired"
    EXPIRED_PARTIAL = "expired_partial"
    CREDITED_PARTIAL = "credited_partial"
    FAILED = "failed"


S = InvoiceStatus


class InvoiceMachine(StateMachine):
    """Legal moves of one invoice; paid, expired and credited are sticky."""

    created = State(value=S.CREATED.value, initial=True)
    awaiting_payment = State(value=S.AWAITING_PAYMENT.value)
    partially_paid = State(value=S.PARTIALLY_PAID.value)
    paid = State(value=S.PAID.value, final=True)
    expired = State(value=S.EXPIRED.value, final=True)
    expired_partial = State(value=S.EXPIRED_PARTIAL.value)
    credited_partial = State(value=S.CREDITED_PARTIAL.value, final=True)
    failed = State(value=S.FAILED.value, final=True)

    open = created.to(awaiting_payment)
    reject = created.to(failed)
    receive_part = awaiting_payment.to(partially_paid)
    settle = awaiting_payment.to(paid) | partially_paid.to(paid) | expired_partial.to(paid)
    expire = awaiting_payment.to(expired)
    expire_partial = awaiting_payment.to(expired_partial) | partially_paid.to(expired_partial)
    credit_partial = expired_partial.to(credited_partial)


class InvoiceLifecycle(Lifecycle):
    """An invoice's state and journal, kept in the workflow."""

    machine_class = InvoiceMachine
    state: str = Field(default=InvoiceStatus.CREATED.value, description="the current state")


def same_unit(currency: str | None, symbol: str) -> bool:
    """Whether `amountPaid` is in the invoice's own currency (the provider may report the coin)."""
    return currency is not None and currency.strip().upper() == symbol.upper()


def status_event(
    provider_status: str, amount_paid: Decimal | None, *, callbacks_seen: bool
) -> tuple[str | None, str]:
    """The lifecycle event one `/v3/orderstatus` reply calls for, and why.

    Only the provider's `paid` settles an invoice; money received otherwise is partial, whatever
    `amountPaid` says and in whatever unit. A missing `amountPaid` counts as money received when
    callbacks announced deposits, so an expiry is never taken for "nothing arrived" unchecked.
    """
    received = amount_paid > 0 if amount_paid is not None else callbacks_seen
    shown = f"{amount_paid} paid" if amount_paid is not None else "amountPaid not reported"
    match provider_status:
        case "paid":
            return "settle", f"provider status paid, {shown}"
        case "wait" if received:
            return "receive_part", shown
        case "error" if received:
            return "expire_partial", shown
        case "error":
            return "expire", shown
    return None, shown


def top_up_reached(
    amount_paid: Decimal | None, currency: str | None, *, amount: Decimal, symbol: str
) -> bool:
    """After expiry: the money received, in the invoice's own unit, reaches its amount."""
    return amount_paid is not None and same_unit(currency, symbol) and amount_paid >= amount


def partial_settled(
    policy: str, *, waited_seconds: float, top_up_wait_seconds: float, topped_up: bool
) -> bool:
    """Credit what arrived now (`credit`), or when topped up or the top-up window has passed."""
    return policy == "credit" or topped_up or waited_seconds >= top_up_wait_seconds


def late_money_grew(
    before: tuple[Decimal | None, str | None], now: tuple[Decimal | None, str | None]
) -> bool | None:
    """Whether the provider's received amount grew between two readings (since the invoice
    ended, or since the previous poll); None when the two readings are in different (or unknown)
    units and cannot be compared."""
    (paid_before, unit_before), (paid_now, unit_now) = before, now
    if paid_now is None or unit_now is None:
        return None
    if not paid_before:  # nothing received before: any unit compares with zero
        return paid_now > 0
    if unit_before is None or unit_before.strip().upper() != unit_now.strip().upper():
        return None
    return paid_now > paid_before


EXPIRY_NOTICE_SECONDS = 15 * 60.0
"""How long after an expiry a callback repeating the earlier deposits' sum can be the provider's
expiry notice (sent at expiry, retried twice): later, the same shape is new money."""


class LateVerdict(StrEnum):
    """What a deposit callback that arrived after the invoice ended turns out to be."""

    PAYING = "paying"
    EXPIRY_NOTICE = "expiry_notice"
    LATE = "late"


def judge_late_deposit(
    *,
    grew: bool | None,
    callbacks_owed: int,
    expired: bool,
    repeats_earlier: bool,
    seconds_after_end: float,
    notice_taken: bool,
) -> LateVerdict:
    """The paying deposit is recognised whichever of status and callback comes first.

    A callback is the paying deposit when the provider's total has not moved since the end and a
    rise it reported before the end is still unexplained by a callback (`callbacks_owed`). Only
    an expired invoice has an expiry notice: one, soon after the end, repeating the earlier
    deposits' sum. Anything else is money the provider had not counted at the end: late, for an
    operator, never dropped.
    """
    if grew is False and callbacks_owed > 0:
        return LateVerdict.PAYING
    if (
        grew is False
        and expired
        and repeats_earlier
        and not notice_taken
        and seconds_after_end <= EXPIRY_NOTICE_SECONDS
    ):
        return LateVerdict.EXPIRY_NOTICE
    return LateVerdict.LATE
