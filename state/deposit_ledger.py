"""Every crypto deposit an order received, deduplicated on (txhash, confirmations), credited once.

Callbacks record deposits and raise confirmations. An invoice is settled by the provider's status;
an address credits a deposit on the provider's word (its verified callback naming the address,
cross-checked by a count where the provider reports one) or an operator's.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field, PrivateAttr

from state.passimpay_deposit import DepositLifecycle, DepositStatus

SETTLED_KEPT = 100
"""Settled deposits kept in full; older ones leave only a digest (for deduplication) and their
amount in the credited totals, so a ledger of thousands stays small enough to carry."""


_HEX_HASH = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def transaction_identity(txhash: str) -> str:
    """One spelling per transaction within a currency: a hex hash lower-case without `0x`
    (chains write it either way); any other hash (Base58, base64) is case-sensitive, as is."""
    text = txhash.strip()
    found = _HEX_HASH.fullmatch(text)
    return found.group(1).lower() if found else text


def _identity_key(payment_id: int, txhash: str) -> str:
    return f"{payment_id}:{transaction_identity(txhash)}"


class DepositEvent(BaseModel):
    """A verified deposit callback, reduced to what the ledger needs (amounts as Decimal)."""

    txhash: str = Field(min_length=1, max_length=200, description="the chain transaction")
    payment_id: int = Field(description="Passimpay's currency id")
    amount: Decimal = Field(gt=0, allow_inf_nan=False, description="in the currency itself")
    confirmations: int = Field(ge=0, le=1_000_000, description="network confirmations so far")
    address_from: str | None = Field(default=None, description="the sending address")
    address_to: str | None = Field(default=None, description="the receiving address")
    destination_tag: str | None = Field(default=None, description="the tag or memo sent with it")


class RecordOutcome(StrEnum):
    """What one event did to the ledger."""

    DUPLICATE = "duplicate"
    STALE = "stale"
    CONFIRMING = "confirming"
    REACHED = "reached"
    ALREADY_FINAL = "already_final"


class LedgerEntry(BaseModel):
    """One on-chain deposit and how far it has been confirmed."""

    txhash: str = Field(description="the chain transaction")
    payment_id: int = Field(description="Passimpay's currency id")
    amount: Decimal = Field(description="in the currency itself")
    confirmations: int = Field(description="the highest count reported")
    required_confirmations: int = Field(description="confirmations before it counts")
    lifecycle: DepositLifecycle = Field(
        default_factory=DepositLifecycle, description="the deposit's state and journal"
    )
    first_seen_at: datetime = Field(description="its first callback")
    credited_at: datetime | None = Field(default=None, description="when it was credited")
    late: bool = Field(default=False, description="arrived after the payment ended")
    address_from: str | None = Field(default=None, description="the sending address")
    address_to: str | None = Field(default=None, description="the receiving address")
    destination_tag: str | None = Field(default=None, description="the tag or memo sent with it")
    flag: str | None = Field(default=None, description="why an operator must look at it")
    held: bool = Field(
        default=False, description="never credited from the provider's total: an operator decides"
    )

    @property
    def key(self) -> str:
        return f"{self.payment_id}:{self.txhash}"

    @property
    def credited(self) -> bool:
        return self.lifecycle.state == DepositStatus.CREDITED

    @property
    def final(self) -> bool:
        return self.lifecycle.is_final

    @property
    def reached(self) -> bool:
        """The callbacks reported the required confirmations; the provider must still confirm."""
        return self.lifecycle.state == DepositStatus.AWAITING_PROVIDER


class DepositLedger(BaseModel):
    """The deposits of one order; survives replay and continue-as-new as plain data.

    An event is identified by (txhash, confirmations): an entry remembers the highest
    confirmation count seen, so a repeat is a duplicate and a lower count is stale.
    """

    entries: dict[str, LedgerEntry] = Field(
        default_factory=dict, description="deposits by `paymentId:txhash`"
    )
    archived: list[str] = Field(
        default_factory=list, description="digests of settled deposits no longer kept in full"
    )
    archived_credited: dict[int, Decimal] = Field(
        default_factory=dict, description="credited amounts of archived deposits, by paymentId"
    )
    archived_rejected: dict[int, Decimal] = Field(
        default_factory=dict, description="rejected amounts of archived deposits, by paymentId"
    )
    _archived_set: set[str] | None = PrivateAttr(default=None)

    def entry_key(self, event: DepositEvent) -> str:
        """The key of the entry this event belongs to: its own, or that of the same transaction
        recorded under another spelling of its hash (case, `0x`)."""
        key = f"{event.payment_id}:{event.txhash}"
        if key in self.entries:
            return key
        same = transaction_identity(event.txhash)
        for found, entry in self.entries.items():
            if entry.payment_id == event.payment_id and transaction_identity(entry.txhash) == same:
                return found
        return key

    def record(
        self, event: DepositEvent, *, at: datetime, required_confirmations: int, late: bool = False
    ) -> RecordOutcome:
        """Apply one callback: duplicates change nothing, confirmations only go up."""
        key = self.entry_key(event)
        entry = self.entries.get(key)
        if entry is None and self.was_archived(event.payment_id, event.txhash):
            return RecordOutcome.DUPLICATE  # settled long ago: nothing left to do
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
                destination_tag=event.destination_tag,
            )
        elif event.confirmations == entry.confirmations:
            return RecordOutcome.DUPLICATE
        elif event.confirmations < entry.confirmations:
            entry.lifecycle.offer("confirm", at, f"stale: {event.confirmations} confirmations")
            return RecordOutcome.STALE
        entry.confirmations = event.confirmations
        if entry.final:
            return RecordOutcome.ALREADY_FINAL
        if entry.confirmations >= entry.required_confirmations:
            entry.lifecycle.offer("reach", at, f"{entry.confirmations} confirmations")
            return RecordOutcome.REACHED
        entry.lifecycle.offer("confirm", at, f"{entry.confirmations} confirmations")
        return RecordOutcome.CONFIRMING

    def credit(self, key: str, at: datetime, note: str) -> bool:
        """Credit one deposit (once); False when it is unknown or already final."""
        entry = self.entries.get(key)
        if entry is None or not entry.lifecycle.offer("credit", at, note):
            return False
        entry.credited_at = at
        entry.flag = None
        return True

    def reject(self, key: str, at: datetime, note: str) -> bool:
        """Never credit this deposit; False when it is unknown or already final."""
        entry = self.entries.get(key)
        if entry is None or not entry.lifecycle.offer("reject", at, note):
            return False
        entry.flag = None
        return True

    def was_archived(self, payment_id: int, txhash: str) -> bool:
        """Whether this deposit was settled and archived (under this or any spelling)."""
        if self._archived_set is None:
            self._archived_set = set(self.archived)
        keys = (f"{payment_id}:{txhash}", _identity_key(payment_id, txhash))
        return any(_digest(key) in self._archived_set for key in keys)

    def compact(self) -> None:
        """Keep the newest `SETTLED_KEPT` settled deposits in full; archive the older ones
        (once per batch of credits, not per credit)."""
        settled = [key for key, entry in self.entries.items() if entry.final]
        for key in settled[: max(0, len(settled) - SETTLED_KEPT)]:
            entry = self.entries.pop(key)
            kept = self.archived_credited if entry.credited else self.archived_rejected
            if entry.credited or not entry.held:
                kept[entry.payment_id] = kept.get(entry.payment_id, Decimal(0)) + entry.amount
            for archived in dict.fromkeys((key, _identity_key(entry.payment_id, entry.txhash))):
                self.archived.append(_digest(archived))
                if self._archived_set is not None:
                    self._archived_set.add(self.archived[-1])

    def covered(
        self, payment_id: int, provider_total: Decimal, *, after_settled: bool = False
    ) -> list[str]:
        """Deposits that reached their confirmations and fit in what the provider reports as
        received in this currency, oldest first; never more than the provider's total.

        With `after_settled`, the total must cover each one after every deposit the provider
        counted that is not waiting: credited and rejected ones alike (a rejected deposit's
        amount is no spare budget for a callback the provider never counted).
        """
        counted = (
            self.settled_amount(payment_id) if after_settled else self.credited_amount(payment_id)
        )
        budget = provider_total - counted
        keys: list[str] = []
        waiting = [
            e
            for e in self.entries.values()
            if e.payment_id == payment_id and e.reached and not e.held
        ]
        for entry in sorted(waiting, key=lambda e: (e.first_seen_at, e.txhash)):
            if entry.amount > budget:
                break
            budget -= entry.amount
            keys.append(entry.key)
        return keys

    def repeats_earlier(self, key: str) -> bool:
        """Whether this deposit carries exactly what the earlier ones of its currency add up to:
        the shape of an expiry notice for a partially paid invoice sent under a new txhash."""
        entry = self.entries.get(key)
        if entry is None:
            return False
        earlier = [
            e.amount
            for e in self.entries.values()
            if e.key != key and e.payment_id == entry.payment_id and not e.late
        ]
        return bool(earlier) and sum(earlier, Decimal(0)) == entry.amount

    def settled_amount(self, payment_id: int) -> Decimal:
        """Credited and rejected deposits of one currency, archived ones included: what the
        provider counted (a held deposit went to another address, so it never did)."""
        archived = self.archived_credited.get(payment_id, Decimal(0)) + self.archived_rejected.get(
            payment_id, Decimal(0)
        )
        return archived + sum(
            (
                e.amount
                for e in self.entries.values()
                if e.payment_id == payment_id and e.final and not e.held
            ),
            Decimal(0),
        )

    def unsettled(self) -> list[LedgerEntry]:
        """Deposits neither credited nor rejected yet."""
        return [e for e in self.entries.values() if not e.final]

    def credited_amount(self, payment_id: int | None = None) -> Decimal:
        """Sum of credited deposits (archived ones included), optionally for one currency."""
        archived = sum(
            (
                amount
                for paid_in, amount in self.archived_credited.items()
                if payment_id is None or paid_in == payment_id
            ),
            Decimal(0),
        )
        return archived + sum(
            (
                e.amount
                for e in self.entries.values()
                if e.credited and (payment_id is None or e.payment_id == payment_id)
            ),
            Decimal(0),
        )

    @property
    def flagged(self) -> list[LedgerEntry]:
        """Deposits an operator must look at: late ones and those the provider did not confirm."""
        return [e for e in self.entries.values() if e.late or e.flag]
