"""An H2H deposit address's lifecycle: requested, open for deposits, closed on request."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from statemachine import State, StateMachine

from state.deposit_ledger import LedgerEntry
from state.lifecycle import Lifecycle


class AddressStatus(StrEnum):
    """Where an address stands; also the `PaymentStatus` search attribute."""

    REQUESTED = "requested"
    OPEN = "open"
    CLOSED = "closed"
    FAILED = "failed"


class AddressMachine(StateMachine):
    """Legal moves of one deposit address."""

    requested = State(value=AddressStatus.REQUESTED.value, initial=True)
    open = State(value=AddressStatus.OPEN.value)
    closed = State(value=AddressStatus.CLOSED.value, final=True)
    failed = State(value=AddressStatus.FAILED.value, final=True)

    assign = requested.to(open)
    reject = requested.to(failed)
    close = open.to(closed) | requested.to(closed)


class AddressLifecycle(Lifecycle):
    """An address's state and journal, carried across continue-as-new."""

    machine_class = AddressMachine
    state: str = Field(default=AddressStatus.REQUESTED.value, description="the current state")


def unconfirmed_reason(entry: LedgerEntry, why: str, *, age_seconds: float) -> str:
    """What an operator reads about a deposit that was not credited automatically."""
    seen = (
        f"{entry.confirmations} of {entry.required_confirmations} confirmations"
        if entry.confirmations < entry.required_confirmations
        else f"{entry.confirmations} confirmations"
    )
    return (
        f"deposit {entry.amount} (txhash {entry.txhash}) has {seen} after "
        f"{age_seconds:.0f} s and is not credited: {why}"
    )
