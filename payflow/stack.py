"""The pieces of a running payflow, as async context managers the CLI and the tests share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import SecretStr
from temporalio.client import Client

from gateway.app import create_gateway
from gateway.services import GatewayServices
from payflow.checkouts import PaymentAssistCheckouts
from payflow.http_server import RunningServer, serve
from payflow.settings import PayflowSettings, PaymentAssistSettings
from sandbox.app import combine
from sandbox.paymentassist import PaymentAssistSandbox

SANDBOX_PAYMENTASSIST_KEY = "demo_key"
SANDBOX_PAYMENTASSIST_SECRET = "demo_sandbox_secret"


@dataclass(frozen=True)
class RunningSandbox:
    """The provider simulators and where they listen."""

    server: RunningServer
    paymentassist: PaymentAssistSandbox

    @property
    def paymentassist_url(self) -> str:
        return f"{self.server.url}/paymentassist"

    def paymentassist_settings(self, **overrides: object) -> PaymentAssistSettings:
        """Settings that point a client at this sandbox."""
        values: dict[str, object] = {
            "api_url": self.paymentassist_url,
            "api_key": SANDBOX_PAYMENTASSIST_KEY,
            "api_secret": SecretStr(SANDBOX_PAYMENTASSIST_SECRET),
        }
        return PaymentAssistSettings(**{**values, **overrides})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_sandbox(
    host: str = "127.0.0.1", port: int = 0, *, webhook_retry_delay: float = 1.0
) -> AsyncIterator[RunningSandbox]:
    """Serve every simulator on one loopback port."""
    paymentassist = PaymentAssistSandbox(
        {SANDBOX_PAYMENTASSIST_KEY: SANDBOX_PAYMENTASSIST_SECRET},
        webhook_retry_delay=webhook_retry_delay,
    )
    app = combine({"paymentassist": paymentassist.app})
    async with serve(app, host, port) as server:
        paymentassist.base_url = f"{server.url}/paymentassist"
        yield RunningSandbox(server=server, paymentassist=paymentassist)


@contextlib.asynccontextmanager
async def running_gateway(
    client: Client,
    *,
    settings: PayflowSettings,
    paymentassist: PaymentAssistSettings,
) -> AsyncIterator[RunningServer]:
    """Serve the gateway; its public URL is where providers and customers reach it."""
    checkouts = PaymentAssistCheckouts(
        client, task_queue=settings.task_queue, public_url=settings.public_url
    )
    services = GatewayServices(
        checkouts=checkouts,
        paymentassist_secret=paymentassist.api_secret,
        return_redirect_url=settings.return_redirect_url,
        api_token=settings.api_token,
    )
    async with serve(create_gateway(services), settings.gateway_host, settings.gateway_port) as srv:
        yield srv
