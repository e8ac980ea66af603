"""How a workflow decides whether a decision (or a gate release) proves where it came from.

The MAC is checked by a local activity, so the verdict is a marker in the history: a replay
reads it back instead of checking again with whatever keys the replaying worker holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.decisions import DecisionActivities, ProofCheck
    from state.decision import OperatorDecision, Proven, proven_message, timing_problem

PROOF_PATCH = "operator-decisions-carry-proof"
"""Operator decisions and gate releases are acted on only with a proof from payflow's API (or
the payout activity); runs from before took any message the namespace delivered. Retire it
(`deprecate_patch`) once no payout, address, checkout or gate run from before this deploy is
still open."""
CHECK_TIMEOUT = timedelta(seconds=10)
CHECK_RETRY = RetryPolicy(maximum_attempts=3)


async def refusal(message: Proven, *, last: datetime | None = None) -> str | None:
    """Why this workflow must not act on `message`; None when it is proven for this workflow
    (and, for an operator decision, fresh and newer than `last`, the last one taken)."""
    if message.proof is None:
        return "it carries no proof: it was not sent through payflow's API"
    if isinstance(message, OperatorDecision):
        problem = timing_problem(message, workflow.now(), last)
        if problem is not None:
            return problem
    check = ProofCheck(
        message=proven_message(workflow.info().workflow_id, message).decode(), proof=message.proof
    )
    try:
        verdict: str | None = await workflow.execute_local_activity_method(
            DecisionActivities.verify_proof,
            check,
            start_to_close_timeout=CHECK_TIMEOUT,
            retry_policy=CHECK_RETRY,
        )
    except (ActivityError, ApplicationError) as error:
        return f"its proof could not be checked: {error.cause or error}"
    return verdict
