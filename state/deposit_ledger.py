"""Every crypto deposit an order received, deduplicated on (txhash, confirmations), credited once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from state.passimpay_deposit import DepositLifecycle, DepositStatus


class DepositEvent(BaseModel):
    """A verified deposit callback, reduced to what the ledger needs (amounts as Decimal)."""

    txhash: str = Field(min_length=1)
    payment_id: int
    amount: Decimal
    confirmations: int = Field(ge=0)
    address_from: str | None = None
    address_to: str | None = None
    destination_tag: str | None = None


class RecordOutcome(StrEnum):
    """What one event did to the ledger."""

    DUPLICATE = "duplicate"
    STALE = "stale"
    CONFIRMING = "confirming"
    CREDITED = "credited"
    ALREADY_CREDITED = "already_credited"


class LedgerEntry(BaseModel):
    """One on-chain deposit and how far it has been confirmed."""

    txhash: str
    payment_id: int
    amount: Decimal
    confirmations: int
    required_confirmations: int
    lifecycle: DepositLifecycle = Field(default_factory=DepositLifecycle)
    first_seen_at: datetime
    credited_at: datetime | None = None
    late: bool = False
    address_from: str | None = None
    address_to: str | None = None

    @property
    def credited(self) -> bool:
        return self.lifecycle.state == DepositStatus.CREDITED


class DepositLedger(BaseModel):
    """The deposits of one order; survives replay and continue-as-new as plain data.

    An event is identified by (txhash, confirmations): an entry remembers the highest
    confirmation count seen, so a repeat is a duplicate and a lower count is stale.
    """

    entries: dict[str, LedgerEntry] = Field(default_factory=dict)

    @staticmethod
    def entry_key(event: DepositEvent) -> str:
        return f"{event.payment_id}:{event.txhash}"

    def record(
        self, event: DepositEvent, *, at: datetime, required_confirmations: int, late: bool = False
    ) -> RecordOutcome:
        """Apply one callback: duplicates change nothing, confirmations only go up."""
        key = self.entry_key(event)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = LedgerEntry(
                txhash=event.txhash,
                payment_id=event.payment_id,
                amount=event.amount,
                confirmations=event.confirmations,
                required_confirmations=required_confirmations,
                first_seen_at=at,
                late=late,
                address_from=event.address_from,
                address_to=event.address_to,
            )
        elif event.confirmations == entry.confirmations:
            return RecordOutcome.DUPLICATE
        elif event.confirmations < entry.confirmations:
            entry.lifecycle.offer("confirm", at, f"stale: {event.confirmations} confirmations")
            return RecordOutcome.STALE
        entry.confirmations = event.confirmations
        if entry.credited:
            return RecordOutcome.ALREADY_CREDITED
        if entry.confirmations >= entry.required_confirmations:
            entry.lifecycle.offer("credit", at, f"{entry.confirmations} confirmations")
            entry.credited_at = at
            return RecordOutcome.CREDITED
        entry.lifecycle.offer("confirm", at, f"{entry.confirmations} confirmations")
        return RecordOutcome.CONFIRMING

    def credited_amount(self, payment_id: int | None = None) -> Decimal:
        """Sum of credited deposits, optionally for one currency."""
        return sum(
            (
                e.amount
                for e in self.entries.values()
                if e.credited and (payment_id is None or e.payment_id == payment_id)
            ),
            Decimal(0),
        )

    @property
    def flagged(self) -> list[LedgerEntry]:
        """Deposits that arrived after the order had ended: an operator must look."""
        return [e for e in self.entries.values() if e.late]
