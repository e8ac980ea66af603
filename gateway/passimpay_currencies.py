"""The platform's currency list as the gateway sees it, to refuse callbacks in no currency of ours."""

from __future__ import annotations

import logging

from providers.errors import ProviderError
from providers.passimpay import PassimpayClient

log = logging.getLogger("payflow.gateway.passimpay")


class KnownCurrencies:
    """Asks `/v2/currencies` through a client that caches the list (1 call/s at most)."""

    def __init__(self, client: PassimpayClient) -> None:
        self._client = client

    async def knows(self, payment_id: int) -> bool | None:
        """Whether the platform lists `payment_id`; None when the list cannot be read now.

        Unknown then, the callback goes on to its workflow: nothing is credited from a callback
        alone, and an address flags a deposit in a currency other than its own.
        """
        try:
            listed = await self._client.currencies()
        except ProviderError as error:
            log.warning(
                "currency list unavailable, paymentId %s not checked: %s", payment_id, error
            )
            return None
        return any(currency.id == payment_id for currency in listed)

    async def aclose(self) -> None:
        await self._client.aclose()
