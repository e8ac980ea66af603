"""An H2H deposit address's lifecycle: requested, open for deposits, closed on request."""

from __future__ import annotations

from enum import StrEnum

from statemachine import State, StateMachine

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
    state: str = AddressStatus.REQUESTED.value
