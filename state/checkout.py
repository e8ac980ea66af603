"""The Payment Assist checkout lifecycle: which moves are legal from which state."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from statemachine import State, StateMachine

from state.lifecycle import Lifecycle


class CheckoutStatus(StrEnum):
    """Where a checkout stands; also written to the `PaymentStatus` search attribute."""

    CREATED = "created"
    PREAPPROVED = "preapproved"
    DECLINED = "declined"
    AWAITING_CUSTOMER = "awaiting_customer"
    PENDING_CAPTURE = "pending_capture"
    COMPLETED = "completed"
    INVOICED = "invoiced"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"


S = CheckoutStatus
QUIET = frozenset({S.CREATED, S.PREAPPROVED, S.AWAITING_CUSTOMER})
"""Statuses in which no money has moved and nothing has ended."""


def quiet_change(status: CheckoutStatus, needs_attention: bool) -> bool:
    """A change the ledger may learn together with the next one (within one wait): no money
    moved, nothing ended, nobody has to be alerted."""
    return status in QUIET and not needs_attention


class CheckoutMachine(StateMachine):
    """Legal moves of one checkout; final states are sticky."""

    created = State(value=S.CREATED.value, initial=True)
    preapproved = State(value=S.PREAPPROVED.value)
    declined = State(value=S.DECLINED.value, final=True)
    awaiting_customer = State(value=S.AWAITING_CUSTOMER.value)
    pending_capture = State(value=S.PENDING_CAPTURE.value)
    completed = State(value=S.COMPLETED.value)
    invoiced = State(value=S.INVOICED.value, final=True)
    failed = State(value=S.FAILED.value, final=True)
    expired = State(value=S.EXPIRED.value, final=True)
    cancelled = State(value=S.CANCELLED.value, final=True)
    needs_attention = State(value=S.NEEDS_ATTENTION.value)

    preapprove = created.to(preapproved)
    decline = created.to(declined)
    begin = created.to(awaiting_customer) | preapproved.to(awaiting_customer)
    attach = needs_attention.to(awaiting_customer)
    recover = needs_attention.to(awaiting_customer)
    """The lender answers `/status` again with nothing an operator must decide."""
    await_capture = awaiting_customer.to(pending_capture)
    complete = awaiting_customer.to(completed) | pending_capture.to(completed)
    upload_invoice = completed.to(invoiced)
    fail = (
        created.to(failed)
        | preapproved.to(failed)
        | awaiting_customer.to(failed)
        | pending_capture.to(failed)
        | needs_attention.to(failed)
    )
    expire = awaiting_customer.to(expired) | pending_capture.to(expired)
    cancel = (
        created.to(cancelled)
        | preapproved.to(cancelled)
        | awaiting_customer.to(cancelled)
        | pending_capture.to(cancelled)
    )
    flag = (
        created.to(needs_attention)
        | preapproved.to(needs_attention)
        | awaiting_customer.to(needs_attention)
        | pending_capture.to(needs_attention)
    )


class CheckoutLifecycle(Lifecycle):
    """A checkout's state and journal, kept in the workflow so replay restores it."""

    machine_class = CheckoutMachine
    state: str = Field(default=CheckoutStatus.CREATED.value, description="the current state")
