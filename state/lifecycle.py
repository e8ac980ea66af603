"""Drive a python-statemachine machine from a stored state value, recording ignored events."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, Field
from statemachine import StateMachine

JOURNAL_LIMIT = 200


class LifecycleEntry(BaseModel):
    """One event offered to a lifecycle: applied (with the new state) or ignored."""

    at: datetime
    event: str
    source: str
    target: str | None = None
    note: str | None = None


class Lifecycle(BaseModel):
    """A state value plus its journal; the subclass's machine decides which events are legal."""

    machine_class: ClassVar[type[StateMachine]]

    state: str
    journal: list[LifecycleEntry] = Field(default_factory=list)

    def _machine(self) -> StateMachine:
        return self.machine_class(start_value=self.state)

    def can(self, event: str) -> bool:
        """Whether `event` is legal from the current state."""
        return event in {e.id for e in self._machine().allowed_events}

    def offer(self, event: str, at: datetime, note: str | None = None) -> bool:
        """Apply `event` if legal now; otherwise record it as ignored. Never raises."""
        source = self.state
        target: str | None = None
        if self.can(event):
            machine = self._machine()
            machine.send(event)
            target = self.state = str(machine.current_state_value)
        self.journal.append(
            LifecycleEntry(at=at, event=event, source=source, target=target, note=note)
        )
        del self.journal[:-JOURNAL_LIMIT]
        return target is not None

    @property
    def is_final(self) -> bool:
        """Whether the current state is one the machine marks final (sticky)."""
        return any(s.final for s in self.machine_class.states if s.value == self.state)
