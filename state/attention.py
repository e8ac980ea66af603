"""Why a payment needs an operator: named reasons that are raised and cleared independently."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, RootModel


class Attention(RootModel[dict[str, str]]):
    """Open reasons by key; `NeedsAttention` is true while any is open."""

    root: dict[str, str] = {}

    @property
    def reasons(self) -> dict[str, str]:
        """The open reasons, by key."""
        return self.root

    def __getitem__(self, key: str) -> str:
        return self.root[key]

    def __contains__(self, key: object) -> bool:
        return key in self.root

    @property
    def needed(self) -> bool:
        """Whether an operator must look."""
        return bool(self.reasons)

    def raise_(self, key: str, reason: str) -> bool:
        """Open (or reword) one reason; True when `needed` just became true."""
        was_needed = self.needed
        self.reasons[key] = reason
        return not was_needed

    def clear(self, key: str) -> bool:
        """Close one reason; True when `needed` just became false."""
        if self.reasons.pop(key, None) is None:
            return False
        return not self.needed


class FailingChecks(BaseModel):
    """Consecutive failed status checks: after `bound` seconds of them, an operator is told."""

    since: datetime | None = Field(default=None, description="the first failure of the streak")
    failures: int = Field(default=0, description="failures in a row")
    last_error: str | None = Field(default=None, description="the latest failure")

    def failed(self, at: datetime, error: str) -> None:
        """Record one failed check."""
        self.since = self.since or at
        self.failures += 1
        self.last_error = error

    def succeeded(self) -> None:
        """A check worked: the streak is over."""
        self.since, self.failures, self.last_error = None, 0, None

    def overdue(self, at: datetime, bound_seconds: float) -> bool:
        """Whether checks have kept failing for longer than the bound."""
        return self.since is not None and (at - self.since).total_seconds() >= bound_seconds

    def reason(self) -> str:
        """What an operator reads."""
        return (
            f"status checks failing since {self.since:%Y-%m-%d %H:%M:%S} UTC "
            f"({self.failures} in a row): {self.last_error}"
        )

    def retry_after(self, cap_seconds: float) -> float:
        """Seconds to the next check: 1, 2, 4, ... up to `cap_seconds`."""
        return float(min(cap_seconds, 2 ** min(self.failures - 1, 16)))
