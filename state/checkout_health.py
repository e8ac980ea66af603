"""Whether a checkout's provider calls have been failing for too long, and resend pacing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

NOT_SENT = "NotSent"
SENDING = "sending"
NOT_SENT_FIRST_DELAY = 1.0
NOT_SENT_MAX_DELAY = 30.0
HINT_RETRY_FIRST_DELAY = 1.0


class CallHealth(BaseModel):
    """The run of failed provider calls since the last success (kept in the workflow)."""

    failing_since: datetime | None = None
    failures: int = 0
    last_error: str | None = None

    def failed(self, started_at: datetime, error: str) -> None:
        """Record a failed call; the run starts when its first failed call started."""
        if self.failing_since is None:
            self.failing_since = started_at
        self.failures += 1
        self.last_error = error

    def succeeded(self) -> None:
        """A call went through: the provider is reachable and readable again."""
        self.failing_since, self.failures, self.last_error = None, 0, None

    def overdue(self, now: datetime, bound_seconds: float) -> bool:
        """Failing for longer than the bound: an operator should look, retries go on."""
        since = self.failing_since
        return since is not None and (now - since).total_seconds() >= bound_seconds

    def describe(self) -> str | None:
        """The reason shown to operators while calls keep failing."""
        if self.failing_since is None:
            return None
        return (
            f"provider calls failing since {self.failing_since.isoformat()} "
            f"({self.failures} failed): {self.last_error}"
        )


def never_sent(failure_type: str | None, timed_out: bool, marks: Sequence[Any]) -> bool:
    """Whether a failed must-not-repeat attempt provably sent nothing, so it may be resent.

    Either the attempt itself said so (NotSent), or it timed out before Temporal recorded its
    `sending` mark (the mark is acknowledged before any request leaves).
    """
    if failure_type == NOT_SENT:
        return True
    return timed_out and SENDING not in marks


def not_sent_delay(attempt: int) -> float:
    """Backoff before resending a request that never left: 1 s, 2 s, 4 s ... at most 30 s."""
    return min(NOT_SENT_FIRST_DELAY * 2 ** max(attempt - 1, 0), NOT_SENT_MAX_DELAY)


def hint_retry_delay(failures: int, poll_seconds: float) -> float:
    """After a hint's `/status` check failed `failures` times: 1 s, 2 s, 4 s ... growing into
    the poll interval, so a customer just back from the lender is answered in seconds."""
    return min(HINT_RETRY_FIRST_DELAY * 2 ** max(failures - 1, 0), poll_seconds)


def attention_poll_delay(failures: int, first_seconds: float, max_seconds: float) -> float:
    """How long a checkout that needs an operator waits before reading `/status` again:
    doubling from `first_seconds` while the reads fail, never beyond `max_seconds`."""
    ceiling = max(first_seconds, max_seconds)
    if failures <= 0:
        return ceiling
    return min(first_seconds * 2 ** min(failures - 1, 32), ceiling)
