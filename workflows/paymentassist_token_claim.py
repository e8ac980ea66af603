"""One open workflow per Payment Assist token: the atomic record of which checkout holds it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from state.checkout_models import TokenClaim

CLAIM_ID_PREFIX = "paymentassist-token:"


def claim_workflow_id(token: str) -> str:
    """The claim's workflow ID: Temporal refuses a second one, so a token has one holder."""
    return f"{CLAIM_ID_PREFIX}{token.strip().lower()}"


@workflow.defn
class PaymentAssistTokenClaim:
    """Stays open (no timers, no growth) so its ID keeps the token held beyond retention."""

    @workflow.init
    def __init__(self, claim: TokenClaim) -> None:
        self._claim = claim

    @workflow.run
    async def run(self, claim: TokenClaim) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query(description="The token and the order whose checkout holds it")
    def holder(self) -> TokenClaim:
        """The token and the order whose checkout holds it."""
        return self._claim
