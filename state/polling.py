"""How often a workflow asks a provider's status API when no callback has woken it."""

from __future__ import annotations

from pydantic import BaseModel, Field

MIN_POLL_SECONDS = 0.2
"""The fastest any workflow may ask a provider: a merchant's `1e-9` is refused, not obeyed."""


class PollTiming(BaseModel):
    """Fast polling while something is happening (after a start or a hint), slow after."""

    active_poll_seconds: float = Field(default=30.0, ge=MIN_POLL_SECONDS)
    active_window_seconds: float = Field(default=1800.0, ge=0)
    idle_poll_seconds: float = Field(default=300.0, ge=MIN_POLL_SECONDS)

    def interval(self, seconds_since_activity: float) -> float:
        """The next poll delay given how long ago the last hint (or the start) was."""
        if seconds_since_activity < self.active_window_seconds:
            return self.active_poll_seconds
        return self.idle_poll_seconds
