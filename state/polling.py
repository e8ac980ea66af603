"""How often a workflow asks a provider's status API when no callback has woken it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from state.numbers import Seconds

MIN_POLL_SECONDS = 0.2
"""The fastest any workflow may ask a provider: a merchant's `1e-9` is refused, not obeyed."""
MAX_POLL_SECONDS = 86_400.0
"""The slowest poll: a day (a huge interval would mean never asking)."""
MAX_WAIT_SECONDS = 366 * 86_400.0
"""The longest window or deadline a merchant may set: a year (`1e276` is refused, not slept)."""


class PollTiming(BaseModel):
    """Fast polling while something is happening (after a start or a hint), slow after."""

    active_poll_seconds: Seconds = Field(
        default=30.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="poll interval while something is happening",
    )
    active_window_seconds: Seconds = Field(
        default=1800.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="how long after a start or hint polling stays fast",
    )
    idle_poll_seconds: Seconds = Field(
        default=300.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="poll interval after the active window",
    )

    def interval(self, seconds_since_activity: float) -> float:
        """The next poll delay given how long ago the last hint (or the start) was."""
        if seconds_since_activity < self.active_window_seconds:
            return self.active_poll_seconds
        return self.idle_poll_seconds


def backed_off(active: float, idle: float, seconds_since_activity: float) -> float:
    """A poll delay that doubles from `active` as the wait since the last activity grows,
    never beyond `idle`: someone busy on a provider's page is asked about at 30 s, 1, 2, 4
    minutes, then every 5, instead of every 30 s (hints still wake the check at once)."""
    return min(max(active, seconds_since_activity), max(active, idle))
