"""What payment workflows keep in common: a lifecycle, attention reasons, status-check health.

One model per workflow subclasses it; the query returns it and continue-as-new carries it whole,
so operators, the API and the next run all read the same fields.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from state.attention import Attention, FailingChecks
from state.ledger_models import LedgerMark
from state.lifecycle import Lifecycle
from state.notifications import Outbox


class LifecycleState(BaseModel):
    """An order's lifecycle and runs; subclasses narrow `lifecycle` to their own machine."""

    order_id: str = Field(description="the merchant's order")
    lifecycle: Lifecycle = Field(description="the state and its journal")
    runs: int = Field(default=1, description="workflow runs so far (continue-as-new)")
    notifications: Outbox = Field(
        default_factory=Outbox, description="the merchant's events and their delivery"
    )
    recorded: LedgerMark = Field(
        default_factory=LedgerMark, description="how far the ledger of record has been written"
    )
    last_decision_at: datetime | None = Field(
        default=None, description="when the last operator decision taken here was made"
    )

    def money_moved(self) -> str:
        """What money the flow has moved so far, as the ledger tells changes apart."""
        return ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> str:
        """Where the payment stands; also the `PaymentStatus` search attribute."""
        return self.lifecycle.state

    @computed_field  # type: ignore[prop-decorator]
    @property
    def needs_attention(self) -> bool:
        """Whether an operator must look; also the `NeedsAttention` search attribute."""
        return False


class TrackedState(LifecycleState):
    """A lifecycle with named attention reasons and the health of its status checks."""

    attention: Attention = Field(
        default_factory=Attention, description="open reasons an operator must look, by key"
    )
    checks: FailingChecks = Field(
        default_factory=FailingChecks, description="the current streak of failed status checks"
    )
    status_checks: int = Field(default=0, description="status checks the provider answered")
    last_checked_at: datetime | None = Field(
        default=None, description="when a status check last answered"
    )
    failure_reason: str | None = Field(default=None, description="why it failed")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def needs_attention(self) -> bool:
        """Whether an operator must look; also the `NeedsAttention` search attribute."""
        return self.attention.needed

    def check_answered(self, at: datetime) -> None:
        """The provider answered a status check: the failing streak is over."""
        self.checks.succeeded()
        self.status_checks += 1
        self.last_checked_at = at
