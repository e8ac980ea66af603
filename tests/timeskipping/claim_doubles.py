"""The token-claim look-ups of a checkout, for lender doubles whose every token is one checkout's."""

from __future__ import annotations

from temporalio import activity

from activities.paymentassist import TokenHolders
from state.checkout_models import TokenClaim


class FreeTokens:
    """No other checkout shows a token, and none holds its claim."""

    @activity.defn(name="paymentassist.token_holders")
    async def token_holders(self, holders: TokenHolders) -> list[str]:
        return []

    @activity.defn(name="paymentassist.token_holder")
    async def token_holder(self, token: str) -> TokenClaim | None:
        return None
