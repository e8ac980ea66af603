"""A Passimpay payout's lifecycle: validated, sent once, followed to paid or failed.

```
created ─validate─▶ validated ─dispatch─▶ sending ─accept─▶ pending ─settle─▶ paid
   │                    │                  │  ▲                │
   └─reject─┬───────────┴─reject───────────┤  │ retry          ├─fail─▶ failed
            ▼                              │  │                │
        rejected                      doubt│  │                │doubt
     (nothing sent)                        ▼  │                ▼
                                      outcome_unknown ◀────────┘
                  operator: settle (paid) | fail | retry;  the status API finds it: accept
```
`sending` also fails at once when the provider refuses the payout.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field
from statemachine import State, StateMachine

from state.lifecycle import Lifecycle


class WithdrawalStatus(StrEnum):
    """Where a payout stands; also the `PaymentStatus` search attribute."""

    CREATED = "created"
    VALIDATED = "validated"
    REJECTED = "rejected"
    SENDING = "sending"
    PENDING = "pending"
    OUTCOME_UNKNOWN = "outcome_unknown"
    PAID = "paid"
    FAILED = "failed"


S = WithdrawalStatus


class WithdrawalMachine(StateMachine):
    """Legal moves of one payout; paid, failed and rejected are sticky."""

    created = State(value=S.CREATED.value, initial=True)
    validated = State(value=S.VALIDATED.value)
    rejected = State(value=S.REJECTED.value, final=True)
    sending = State(value=S.SENDING.value)
    pending = State(value=S.PENDING.value)
    outcome_unknown = State(value=S.OUTCOME_UNKNOWN.value)
    paid = State(value=S.PAID.value, final=True)
    failed = State(value=S.FAILED.value, final=True)

    validate = created.to(validated)
    reject = created.to(rejected) | validated.to(rejected) | sending.to(rejected)
    dispatch = validated.to(sending) | sending.to.itself()
    accept = sending.to(pending) | outcome_unknown.to(pending)
    doubt = sending.to(outcome_unknown) | pending.to(outcome_unknown)
    settle = pending.to(paid) | outcome_unknown.to(paid)
    fail = sending.to(failed) | pending.to(failed) | outcome_unknown.to(failed)
    retry = outcome_unknown.to(sending)


class WithdrawalLifecycle(Lifecycle):
    """A payout's state and journal, kept in the workflow so replay restores it."""

    machine_class = WithdrawalMachine
    state: str = Field(default=WithdrawalStatus.CREATED.value, description="the current state")


APPROVE_EVENTS = {1: "settle", 2: "fail"}
"""`/v2/withdrawstatus` approve codes that end a pending payout; 0 (still pending) moves nothing."""


def approve_event(approve: int) -> str | None:
    """The lifecycle event one `/v2/withdrawstatus` reading calls for (None: keep waiting)."""
    return APPROVE_EVENTS.get(approve)


StatusRead = Literal["found", "not_found", "unreadable"]
"""What one `/v2/withdrawstatus` read learned of our orderId."""
RetryVerdict = Literal["resend", "follow", "hold"]
RETRY_VERDICTS: dict[StatusRead, RetryVerdict] = {
    "found": "follow",
    "not_found": "resend",
    "unreadable": "hold",
}


def operator_retry(read: StatusRead) -> RetryVerdict:
    """An operator's retry, decided by a status read made for it: resend only when the provider
    answered that it has no payout under our orderId; follow one it has (pending, paid or
    failed: never a second payout); hold, still with the operator, when nothing could be read."""
    return RETRY_VERDICTS[read]
