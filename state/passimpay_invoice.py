"""The Passimpay invoice-link lifecycle: fixed amount, partial payments, expiry and its policy."""

from __future__ import annotations

from enum import StrEnum

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
    state: str = InvoiceStatus.CREATED.value
