"""What every operator decision carries: who made it, when, and the proof that payflow's API
made it for this workflow (a MAC with a key only payflow's processes hold).

A workflow acts on a proven message only: the MAC covers the workflow's id, the message's type
and every field but the proof itself, so a message typed into the Temporal UI or CLI, moved
from another workflow, or altered, is refused. The MAC is checked by a local activity (the key
never enters workflow code); the checks of time here are pure and deterministic.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Self

from pydantic import BaseModel, Field

DECISION_REFUSED = "DecisionRefused"
"""The error type of a decision a workflow refused (no proof, a wrong one, or stale)."""
MAX_DECISION_AGE = timedelta(minutes=15)
"""A decision older than this (by the workflow's clock) is refused: a proof never waits."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the workflow's clock a decision's time may be."""


class DecisionProof(BaseModel):
    """The MAC payflow's API (or a payflow activity) made over a message for one workflow."""

    key_id: str = Field(max_length=100, description="which decision key made the MAC")
    mac: str = Field(max_length=200, description="HMAC-SHA256 of the proven message, hex")


class Proven(BaseModel):
    """A message a workflow acts on only with a valid proof (operator decisions, gate
    releases)."""

    proof: DecisionProof | None = Field(
        default=None,
        description="set by payflow's API; a message without a valid one is refused",
    )

    def unproven(self) -> Self:
        """The same message without its proof (what a workflow keeps and shows)."""
        return self.model_copy(update={"proof": None})


def proven_message(workflow_id: str, message: Proven) -> bytes:
    """The bytes a proof's MAC covers: the workflow, the message's type and its fields (those
    at their default left out, so a field added later with a default keeps old proofs valid)."""
    content = message.model_dump(mode="json", exclude={"proof"}, exclude_defaults=True)
    framed = {"workflow_id": workflow_id, "kind": type(message).__name__, "content": content}
    return json.dumps(framed, sort_keys=True, separators=(",", ":")).encode()


class OperatorDecision(Proven):
    """The base of every resolution an operator sends."""

    actor: str = Field(
        default="operator",
        max_length=100,
        description="who decided; the gateway sets it from the operator's token",
    )
    decided_at: datetime | None = Field(
        default=None, description="when payflow's API signed the decision (set by the API)"
    )

    def by(self, actor: str) -> Self:
        """The same decision, recorded as made by `actor`."""
        return self.model_copy(update={"actor": actor})

    def attempted(self) -> str:
        """What was tried, for the journal of a refusal (the actor as claimed, unverified)."""
        fields = self.model_dump(mode="json", exclude={"proof", "actor", "decided_at"})
        shown = ", ".join(f"{key}={value!r}" for key, value in fields.items() if value is not None)
        return f"{type(self).__name__}({shown}) claimed by {self.actor!r}"


def timing_problem(decision: OperatorDecision, now: datetime, last: datetime | None) -> str | None:
    """Why a decision's time rules it out: undated, stale, from the future, or not newer than
    the last decision this workflow took (a proven decision is taken once)."""
    at = decision.decided_at
    if at is None:
        return "the decision carries no time"
    if at < now - MAX_DECISION_AGE:
        return f"the decision was made at {at.isoformat()}, too long ago"
    if at > now + CLOCK_SKEW:
        return f"the decision is dated {at.isoformat()}, in the future"
    if last is not None and at <= last:
        return "the decision is not newer than the last one taken (a repeat)"
    return None
