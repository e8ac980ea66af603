"""One crypto deposit's lifecycle: seen, confirming, confirmed by the provider, credited once."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from statemachine import State, StateMachine

from state.lifecycle import Lifecycle


class DepositStatus(StrEnum):
    """Where one deposit stands."""

    SEEN = "seen"
    CONFIRMING = "confirming"
    AWAITING_PROVIDER = "awaiting_provider"
    CREDITED = "credited"
    REJECTED = "rejected"


S = DepositStatus


class DepositMachine(StateMachine):
    """Callbacks only raise confirmations; crediting needs the provider; final states are sticky."""

    seen = State(value=S.SEEN.value, initial=True)
    confirming = State(value=S.CONFIRMING.value)
    awaiting_provider = State(value=S.AWAITING_PROVIDER.value)
    credited = State(value=S.CREDITED.value, final=True)
    rejected = State(value=S.REJECTED.value, final=True)

    confirm = seen.to(confirming) | confirming.to.itself(internal=True)
    reach = (
        seen.to(awaiting_provider)
        | confirming.to(awaiting_provider)
        | awaiting_provider.to.itself(internal=True)
    )
    credit = seen.to(credited) | confirming.to(credited) | awaiting_provider.to(credited)
    reject = seen.to(rejected) | confirming.to(rejected) | awaiting_provider.to(rejected)


class DepositLifecycle(Lifecycle):
    """A deposit's state and journal, kept in the deposit's ledger entry."""

    machine_class = DepositMachine
    state: str = Field(default=DepositStatus.SEEN.value, description="the current state")
