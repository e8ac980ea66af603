"""One crypto deposit's lifecycle: seen, confirming, credited exactly once."""

from __future__ import annotations

from enum import StrEnum

from statemachine import State, StateMachine

from state.lifecycle import Lifecycle


class DepositStatus(StrEnum):
    """Where one deposit stands."""

    SEEN = "seen"
    CONFIRMING = "confirming"
    CREDITED = "credited"


class DepositMachine(StateMachine):
    """Confirmations only go up; credited is sticky."""

    seen = State(value=DepositStatus.SEEN.value, initial=True)
    confirming = State(value=DepositStatus.CONFIRMING.value)
    credited = State(value=DepositStatus.CREDITED.value, final=True)

    confirm = seen.to(confirming) | confirming.to.itself(internal=True)
    credit = seen.to(credited) | confirming.to(credited)


class DepositLifecycle(Lifecycle):
    """A deposit's state and journal, kept in the deposit's ledger entry."""

    machine_class = DepositMachine
    state: str = DepositStatus.SEEN.value
