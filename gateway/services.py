"""What the gateway's routes need, built once per app and reached through `request.app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from fastapi import Request
from pydantic import SecretStr
from temporalio.converter import PayloadCodec

from gateway.access import AccessTokens
from gateway.client_address import IPNetwork, parse_networks
from gateway.passimpay_currencies import KnownCurrencies
from gateway.readiness import Readiness
from gateway.shedding import BodyLimits
from ledger.store import Ledger
from payflow.checkouts import PaymentAssistCheckouts
from payflow.crypto import PassimpayPayments
from payflow.metrics import MetricsExposition
from payflow.withdrawals import PassimpayWithdrawals


@dataclass(frozen=True)
class PassimpayCallbackSettings:
    """How Passimpay callbacks are verified: our platform, its key, who may send them, which
    proxies may say who sent them, and the currencies the platform lists."""

    platform_id: int
    secret: SecretStr
    allowed_ips: frozenset[str] = field(default_factory=frozenset)
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)
    currencies: KnownCurrencies | None = None

    @cached_property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.allowed_ips)

    @cached_property
    def proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)


@dataclass(frozen=True)
class GatewayServices:
    """The Python API objects and the secrets needed to verify what providers send."""

    checkouts: PaymentAssistCheckouts
    paymentassist_secret: SecretStr
    crypto: PassimpayPayments
    passimpay: PassimpayCallbackSettings
    withdrawals: PassimpayWithdrawals
    ledger: Ledger
    """The ledger of record: payments listed and kept after Temporal deletes their workflows."""
    return_redirect_url: str | None = None
    return_secret: SecretStr | None = None
    """Signs the customer's redirect (the merchant's notification secret); without it the
    customer sees the gateway's own page, never an unsigned redirect."""
    access: AccessTokens = field(default_factory=AccessTokens)
    codec: PayloadCodec | None = None
    ui_origins: tuple[str, ...] = ()
    max_in_flight: int = 64
    """Requests served at once before the gateway sheds load (`gateway.shedding`)."""
    slot_wait_seconds: float = 0.5
    bodies: BodyLimits = field(default_factory=BodyLimits)
    """Body size limits per route family, the read deadline and readers (`gateway.shedding`)."""
    readiness: Readiness | None = None
    """What `/readyz` asks; without it the gateway never says it is ready."""
    metrics: MetricsExposition = field(default_factory=MetricsExposition)
    """What `/metrics` serves."""


async def services(request: Request) -> GatewayServices:
    """FastAPI dependency: the app's services (async: a sync one costs every request a hop to
    a worker thread)."""
    found: GatewayServices = request.app.state.services
    return found
