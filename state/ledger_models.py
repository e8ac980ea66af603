"""What a flow sends to the ledger of record, and what the ledger answers with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal["checkout", "invoice", "address", "withdrawal"]
KINDS: tuple[Kind, ...] = ("checkout", "invoice", "address", "withdrawal")
Direction = Literal["in", "out"]


def terms_digest(terms: Mapping[str, object]) -> str:
    """A stable digest of a start's terms (its summary), for the order registry."""
    canonical = json.dumps(dict(terms), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class LedgerChange(BaseModel):
    """One change of a flow: a journal entry, or the closing write when the workflow ends."""

    version: int = Field(ge=1, description="rises with every change of the flow")
    at: datetime = Field(description="workflow time of the change")
    status: str = Field(description="the flow's status after the change")
    needs_attention: bool = Field(description="whether an operator must look after it")
    change: str | None = Field(
        default=None,
        description="the entry's type (`checkout.completed`, `invoice.attention_required`); "
        "None when only money moved, or for the closing write",
    )
    closed: bool = Field(default=False, description="the workflow ends with this write")


class LedgerMark(BaseModel):
    """How far a flow's record has been written: carried across runs, so versions only rise
    and changes not yet written are written by the next run."""

    version: int = Field(default=0, description="the last version queued for the ledger")
    shown: tuple[str, bool, str] | None = Field(
        default=None, description="status, attention and money moved, as last queued"
    )
    pending: list[LedgerChange] = Field(
        default_factory=list, description="changes queued but not yet written"
    )
    on: bool = Field(
        default=False, description="the flow was started to write, with no patch marker"
    )


class LedgerWrite(BaseModel):
    """A flow's changes not yet recorded, oldest first, with its view as it is now."""

    kind: Kind = Field(description="`checkout`, `invoice`, `address` or `withdrawal`")
    provider: str = Field(description="`paymentassist` or `passimpay`")
    order_id: str = Field(description="the merchant's order")
    changes: list[LedgerChange] = Field(min_length=1, description="oldest first")
    view: dict[str, Any] = Field(description="what `GET` answers for the flow, as JSON")

    @property
    def last(self) -> LedgerChange:
        return self.changes[-1]


class Movement(BaseModel):
    """An amount that moved money, named by a key unique within its flow."""

    key: str = Field(description="unique within the flow: the same money is one entry")
    type: str = Field(
        description="`checkout.funded`, `invoice.received`, `address.credited`, `withdrawal.paid_out`"
    )
    amount: Decimal = Field(description="exact, in `currency`")
    currency: str = Field(description="`GBP`, a ticker, or `passimpay:<paymentId>`")
    direction: Direction = Field(description="`in` to the merchant, `out` from it")
    reference: str | None = Field(default=None, description="the provider's reference")


class PaymentRecord(BaseModel):
    """One payment as the ledger holds it."""

    kind: Kind = Field(description="`checkout`, `invoice`, `address` or `withdrawal`")
    provider: str = Field(description="`paymentassist` or `passimpay`")
    order_id: str = Field(description="the merchant's order")
    terms: dict[str, Any] = Field(description="the terms it was registered on")
    status: str | None = Field(description="None until the flow's first write")
    needs_attention: bool = Field(description="whether an operator must look")
    closed: bool = Field(description="its workflow has ended")
    version: int = Field(description="the flow's latest write")
    registered_at: datetime = Field(description="when the first start registered it")
    created_at: datetime | None = Field(description="workflow time of its first write")
    updated_at: datetime | None = Field(description="workflow time of its latest write")
    view: dict[str, Any] | None = Field(default=None, description="what `GET` answers for it")
