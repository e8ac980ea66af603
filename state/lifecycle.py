"""Drive a python-statemachine machine from a stored state value, recording ignored events.

The machine class declares the legal moves; they are read once per class into a table, so a
workflow offering thousands of events (a busy address) never builds a machine per event.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import ClassVar

from pydantic import BaseModel, Field
from statemachine import StateMachine

JOURNAL_LIMIT = 200


class LifecycleEntry(BaseModel):
    """One event offered to a lifecycle: applied (with the new state) or ignored."""

    at: datetime = Field(description="when")
    event: str = Field(description="what happened")
    source: str = Field(description="the state before")
    target: str | None = Field(default=None, description="the state after; none when refused")
    note: str | None = Field(default=None, description="why, or who")


@cache
def transitions(machine_class: type[StateMachine]) -> dict[tuple[str, str], str]:
    """Every legal move of a machine without guards: (state, event) -> the state it leads to."""
    table: dict[tuple[str, str], str] = {}
    for state in machine_class.states:
        for transition in state.transitions:
            if list(transition.cond):  # a guard needs the machine itself, not a table
                raise TypeError(f"{machine_class.__name__} has a guarded transition")
            for event in transition.events:
                table[(str(state.value), str(event))] = str(transition.target.value)
    return table


class Lifecycle(BaseModel):
    """A state value plus its journal; the subclass's machine decides which events are legal."""

    machine_class: ClassVar[type[StateMachine]]

    state: str = Field(description="the current state")
    journal: list[LifecycleEntry] = Field(
        default_factory=list, description="every move, oldest first"
    )

    def can(self, event: str) -> bool:
        """Whether `event` is legal from the current state."""
        return (self.state, event) in transitions(self.machine_class)

    def offer(self, event: str, at: datetime, note: str | None = None) -> bool:
        """Apply `event` if legal now; otherwise record it as ignored. Never raises."""
        source = self.state
        target = transitions(self.machine_class).get((source, event))
        if target is not None:
            self.state = target
        self.journal.append(
            LifecycleEntry(at=at, event=event, source=source, target=target, note=note)
        )
        del self.journal[:-JOURNAL_LIMIT]
        return target is not None

    @property
    def is_final(self) -> bool:
        """Whether the current state is one the machine marks final (sticky)."""
        return any(s.final for s in self.machine_class.states if s.value == self.state)
