"""Deliver one merchant notification: a signed POST, retried by Temporal until it is accepted."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import TRANSIENT
from payflow.notifications import post_event
from payflow.notify_targets import NotifyPolicy, Target, UnsafeNotifyUrl
from state.notifications import MerchantEvent

DELIVERY_TIMEOUT_SECONDS = 10.0
NOT_CONFIGURED = "NotConfigured"
REFUSED_TARGET = "NotifyUrlRefused"


class MerchantDelivery(BaseModel):
    """One event for one URL."""

    url: str
    event: MerchantEvent


class DeliveryReceipt(BaseModel):
    """The merchant's answer to the attempt that was accepted."""

    status_code: int
    attempt: int


class MerchantActivities:
    """Sends events with the merchant's shared secret, which only the worker holds."""

    def __init__(
        self,
        secret: SecretStr | None,
        *,
        timeout_seconds: float = DELIVERY_TIMEOUT_SECONDS,
        policy: NotifyPolicy | None = None,
        trusted_url: str | None = None,
    ) -> None:
        self._secret = secret
        self._http = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)
        self._policy = policy or NotifyPolicy()
        self._trusted_url = trusted_url

    async def aclose(self) -> None:
        """Close the HTTP client (the worker's shutdown)."""
        await self._http.aclose()

    @activity.defn(name="merchant.deliver")
    async def deliver(self, delivery: MerchantDelivery) -> DeliveryReceipt:
        """POST the event; any 2xx is delivered, anything else is tried again later."""
        if self._secret is None:  # never sent unsigned: delivered once the secret is set
            raise ApplicationError(
                "PAYFLOW_NOTIFY_SECRET is not set on the worker", type=NOT_CONFIGURED
            )
        secret = self._secret.get_secret_value()
        pinned = await self._vetted(delivery.url)
        try:
            status = await post_event(
                self._http, delivery.url, delivery.event, secret, pinned=pinned
            )
        except httpx.HTTPError:  # no network detail: the outcome is visible in the flow's state
            raise ApplicationError("merchant endpoint unreachable", type=TRANSIENT) from None
        if not 200 <= status < 300:
            raise ApplicationError(f"merchant endpoint answered {status}", type=TRANSIENT)
        return DeliveryReceipt(status_code=status, attempt=activity.info().attempt)

    async def _vetted(self, url: str) -> Target | None:
        """The address to connect to for a request's own URL (PAYFLOW_NOTIFY_URL, configured by
        the operator, is trusted as it is); a refused one is given up at once."""
        if url == self._trusted_url:
            return None
        try:
            return await self._policy.target(url)
        except UnsafeNotifyUrl as error:
            raise ApplicationError(str(error), type=REFUSED_TARGET, non_retryable=True) from None
