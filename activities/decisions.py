"""Decision keys: payflow's API proves each operator decision (and the payout activity each gate
release) with an HMAC the worker checks in a local activity; the key never enters a workflow.

Keys rotate by id like payload keys: new proofs use the active key, old ids still verify while
they are kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity

from state.decision import DecisionProof, OperatorDecision, Proven, proven_message

MIN_KEY_BYTES = 32
VERIFY_ACTIVITY = "payflow.verify_proof"

P = TypeVar("P", bound=Proven)


class DecisionKeyError(ValueError):
    """A decision key is missing or too short."""


class ProofCheck(BaseModel):
    """What a workflow asks the worker to check: its proven message and the proof it came with."""

    message: str
    proof: DecisionProof


class DecisionKeys:
    """Make and check proofs; the active key signs, every kept key verifies."""

    def __init__(self, keys: Mapping[str, bytes], active: str | None = None) -> None:
        if not keys:
            raise DecisionKeyError("no decision key")
        for key_id, key in keys.items():
            if len(key) < MIN_KEY_BYTES:
                raise DecisionKeyError(f"decision key {key_id!r} must be {MIN_KEY_BYTES}+ bytes")
        self._keys = dict(keys)
        self._active = active or next(iter(self._keys))
        if self._active not in self._keys:
            raise DecisionKeyError(f"the active decision key {self._active!r} is not among them")

    @property
    def active(self) -> str:
        return self._active

    def _mac(self, key_id: str, message: bytes) -> str:
        return hmac.new(self._keys[key_id], message, hashlib.sha256).hexdigest()

    def prove(self, workflow_id: str, message: P) -> P:
        """`message` with a proof for `workflow_id` (an operator decision dated now as well)."""
        if isinstance(message, OperatorDecision):
            message = message.model_copy(update={"decided_at": datetime.now(UTC)})
        bare = message.unproven()
        mac = self._mac(self._active, proven_message(workflow_id, bare))
        return bare.model_copy(update={"proof": DecisionProof(key_id=self._active, mac=mac)})

    def problem(self, message: bytes, proof: DecisionProof) -> str | None:
        """Why `proof` does not prove `message` (None: it does)."""
        if proof.key_id not in self._keys:
            return f"the proof names no decision key this worker holds ({proof.key_id!r})"
        if not hmac.compare_digest(self._mac(proof.key_id, message), proof.mac):
            return "the proof does not match the message (altered, or made for another workflow)"
        return None


class DecisionActivities:
    """The worker's side of proofs: checked here, outside the workflow sandbox."""

    def __init__(self, keys: DecisionKeys) -> None:
        self._keys = keys

    @activity.defn(name=VERIFY_ACTIVITY)
    async def verify_proof(self, check: ProofCheck) -> str | None:
        """Why the proof does not prove the message; None when it does."""
        return self._keys.problem(check.message.encode(), check.proof)
