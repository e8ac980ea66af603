"""The merchant's view of a flow's changes: events recorded in order, delivered one at a time.

A flow whose request names a `notify_url` records one event per change of status or attention
and delivers them in the order they happened; the record (kept in the workflow's state, so the
query shows it and continue-as-new carries it) says which were delivered, after how many
attempts, and which were given up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

OUTBOX_LIMIT = 100
"""Delivered or given-up events kept per flow (the oldest settled ones are dropped first)."""

Delivery = Literal["pending", "delivered", "failed"]
NotifyUrl = Annotated[
    str | None,
    Field(
        max_length=2000,
        pattern=r"^https?://",
        description="where this flow's signed events are POSTed (default: PAYFLOW_NOTIFY_URL)",
    ),
]
"""A request's own notification URL, the same field on every kind of flow."""


class EventData(BaseModel):
    """What changed, with no personal data: the merchant reads the rest from the API."""

    provider: str = Field(description="`paymentassist` or `passimpay`")
    flow: str = Field(description="`checkout`, `invoice`, `address` or `withdrawal`")
    order_id: str = Field(description="the merchant's order id")
    status: str = Field(description="the flow's status after the change")
    previous_status: str | None = Field(default=None, description="its status before")
    needs_attention: bool = Field(description="whether an operator must look")


class MerchantEvent(BaseModel):
    """One signed notification: the body POSTed to the merchant's URL, byte for byte."""

    id: str = Field(description="unique per event; repeated on every retry and replay (dedupe)")
    type: str = Field(description="`<flow>.<status>`, or `<flow>.attention_required|cleared`")
    sequence: int = Field(description="1, 2, 3 ... within the flow: the order they happened")
    created: datetime = Field(description="when the change happened (workflow time)")
    data: EventData = Field(description="what changed")


class OutboxEntry(BaseModel):
    """An event and how its delivery went."""

    event: MerchantEvent = Field(description="the event, as POSTed")
    delivery: Delivery = Field(
        default="pending", description="`pending` until answered 2xx (`delivered`) or given up"
    )
    attempts: int = Field(default=0, description="HTTP attempts, counted when it settled")
    settled_at: datetime | None = Field(
        default=None, description="when it was delivered or given up"
    )
    error: str | None = Field(default=None, description="why it was given up")


class Outbox(BaseModel):
    """A flow's events for the merchant, oldest first."""

    url: str | None = Field(default=None, description="where events are POSTed")
    entries: list[OutboxEntry] = Field(
        default_factory=list, description="events oldest first, the last settled ones kept"
    )
    recorded: int = Field(default=0, description="events recorded so far (the last sequence)")
    announced: tuple[str, bool] | None = Field(
        default=None, description="the status and attention the last event announced"
    )

    def wants(self, shown: tuple[str, bool]) -> bool:
        """Whether a flow now showing `shown` (status, attention) has an event to record."""
        return self.url is not None and shown != self.announced

    def record(
        self,
        *,
        event_id: str,
        at: datetime,
        provider: str,
        flow: str,
        order_id: str,
        status: str,
        needs_attention: bool,
    ) -> MerchantEvent | None:
        """Queue an event for a change of status or attention; None when nothing changed or
        no URL was given."""
        shown = (status, needs_attention)
        if not self.wants(shown):
            return None
        previous = self.announced
        self.announced = shown
        if previous is not None and previous[0] == status:
            kind = "attention_required" if needs_attention else "attention_cleared"
        else:
            kind = status
        self.recorded += 1
        event = MerchantEvent(
            id=event_id,
            type=f"{flow}.{kind}",
            sequence=self.recorded,
            created=at,
            data=EventData(
                provider=provider,
                flow=flow,
                order_id=order_id,
                status=status,
                previous_status=previous[0] if previous else None,
                needs_attention=needs_attention,
            ),
        )
        self.entries.append(OutboxEntry(event=event))
        return event

    def next_pending(self) -> OutboxEntry | None:
        """The oldest event not yet settled: the only one that may be in flight."""
        return next((e for e in self.entries if e.delivery == "pending"), None)

    def settle(
        self, entry: OutboxEntry, *, at: datetime, attempts: int, error: str | None = None
    ) -> None:
        """Mark `entry` delivered (or given up with `error`) and trim old settled ones."""
        entry.delivery = "failed" if error else "delivered"
        entry.attempts, entry.settled_at, entry.error = attempts, at, error
        settled = [e for e in self.entries if e.delivery != "pending"]
        for old in settled[: max(0, len(self.entries) - OUTBOX_LIMIT)]:
            self.entries.remove(old)
