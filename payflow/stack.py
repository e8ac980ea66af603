"""The pieces of a running payflow, as async context managers the CLI and the tests share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from gateway.access import AccessTokens
from gateway.app import create_gateway
from gateway.held_callbacks import redeliver_forever
from gateway.passimpay_currencies import KnownCurrencies
from gateway.readiness import Readiness
from gateway.services import GatewayServices, PassimpayCallbackSettings
from gateway.shedding import BodyLimits
from ledger.store import Ledger
from payflow.checkouts import PaymentAssistCheckouts
from payflow.crypto import PassimpayPayments
from payflow.documents import DocumentStore
from payflow.flow_counts import FlowCounts
from payflow.http_server import RunningServer, serve
from payflow.metrics import MetricsExposition, sdk_metrics_url
from payflow.notify_targets import NotifyPolicy
from payflow.settings import PassimpaySettings, PayflowSettings, PaymentAssistSettings
from payflow.withdrawals import PassimpayWithdrawals
from payflow.workflow_calls import CallBounds
from providers.passimpay import PassimpayClient
from sandbox.app import combine
from sandbox.passimpay import PassimpaySandbox
from sandbox.paymentassist import PaymentAssistSandbox

SANDBOX_PAYMENTASSIST_KEY = "demo_key"
SANDBOX_PAYMENTASSIST_SECRET = "demo_sandbox_secret"
SANDBOX_PASSIMPAY_PLATFORM = 50
SANDBOX_PASSIMPAY_KEY = "sandbox-passimpay-key"
CURRENCY_LIST_TIMEOUT = 5.0
"""The gateway asks `/v2/currencies` while a callback waits: never for long."""
CURRENCY_LIST_TTL = 60.0
"""A currency the platform adds is known to the gateway within a minute."""
SANDBOX_STATE_DIR = "sandbox"
"""Where, under the state dir, the simulators keep their SQLite files."""


def sandbox_state_files(state_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The Payment Assist and Passimpay simulators' state files under `state_dir`."""
    folder = Path(state_dir) / SANDBOX_STATE_DIR
    return folder / "paymentassist.db", folder / "passimpay.db"


@dataclass(frozen=True)
class RunningSandbox:
    """The provider simulators and where they listen."""

    server: RunningServer
    paymentassist: PaymentAssistSandbox
    passimpay: PassimpaySandbox

    @property
    def paymentassist_url(self) -> str:
        return f"{self.server.url}/paymentassist"

    @property
    def passimpay_url(self) -> str:
        return f"{self.server.url}/passimpay"

    def paymentassist_settings(self, **overrides: object) -> PaymentAssistSettings:
        """Settings that point a Payment Assist client at this sandbox."""
        values: dict[str, object] = {
            "api_url": self.paymentassist_url,
            "api_key": SANDBOX_PAYMENTASSIST_KEY,
            "api_secret": SecretStr(SANDBOX_PAYMENTASSIST_SECRET),
        }
        return PaymentAssistSettings(**{**values, **overrides})  # type: ignore[arg-type]

    def passimpay_settings(self, **overrides: object) -> PassimpaySettings:
        """Settings that point a Passimpay client at this sandbox."""
        values: dict[str, object] = {
            "api_url": self.passimpay_url,
            "platform_id": SANDBOX_PASSIMPAY_PLATFORM,
            "api_key": SecretStr(SANDBOX_PASSIMPAY_KEY),
        }
        return PassimpaySettings(**{**values, **overrides})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    passimpay_callback_url: str | None = None,
    retry_delay: float = 1.0,
    invoice_lifetime: float = 3600.0,
    state_dir: str | os.PathLike[str] | None = None,
) -> AsyncIterator[RunningSandbox]:
    """Serve every simulator on one loopback port; with a `state_dir` their state is kept there
    and a sandbox started again on it carries on (else it lives in memory only)."""
    paymentassist_file, passimpay_file = (
        sandbox_state_files(state_dir) if state_dir is not None else (None, None)
    )
    paymentassist = PaymentAssistSandbox(
        {SANDBOX_PAYMENTASSIST_KEY: SANDBOX_PAYMENTASSIST_SECRET},
        webhook_retry_delay=retry_delay,
        state_file=paymentassist_file,
    )
    passimpay = PassimpaySandbox(
        {SANDBOX_PASSIMPAY_PLATFORM: SANDBOX_PASSIMPAY_KEY},
        callback_url=passimpay_callback_url,
        callback_retry_delay=retry_delay,
        invoice_lifetime=invoice_lifetime,
        state_file=passimpay_file,
    )
    app = combine({"paymentassist": paymentassist.app, "passimpay": passimpay.app})
    async with serve(app, host, port) as server:
        paymentassist.base_url = f"{server.url}/paymentassist"
        passimpay.base_url = f"{server.url}/passimpay"
        yield RunningSandbox(server=server, paymentassist=paymentassist, passimpay=passimpay)


def gateway_metrics(client: Client, settings: PayflowSettings) -> MetricsExposition:
    """The gateway's scrape: the process's series, its own flow counts, the SDK's metrics."""
    flows = FlowCounts(
        client,
        ttl=settings.flow_counts_ttl_seconds,
        timeout=settings.temporal_rpc_timeout_seconds,
    )
    per_gateway = CollectorRegistry()
    per_gateway.register(flows)
    return MetricsExposition(
        registries=(REGISTRY, per_gateway),
        refreshers=(flows.refresh,),
        sdk_url=sdk_metrics_url(client),
    )


@contextlib.asynccontextmanager
async def running_gateway(
    client: Client,
    *,
    settings: PayflowSettings,
    paymentassist: PaymentAssistSettings,
    passimpay: PassimpaySettings,
    codec: PayloadCodec | None = None,
    checkouts: PaymentAssistCheckouts | None = None,
    ledger: Ledger | None = None,
) -> AsyncIterator[RunningServer]:
    """Serve the gateway; its public URL is where providers and customers reach it. With a
    `codec`, it also serves the Temporal UI's codec endpoint to operators. Given `checkouts`,
    the gateway shares that Python API object (and the token digests it learned from its
    starts) with the code that started them in this process."""
    async with gateway_services(
        client,
        settings=settings,
        paymentassist=paymentassist,
        passimpay=passimpay,
        codec=codec,
        checkouts=checkouts,
        ledger=ledger,
    ) as services:
        redelivery = asyncio.create_task(redeliver_forever(services))
        try:
            app = create_gateway(services)
            async with serve(app, settings.gateway_host, settings.gateway_port) as srv:
                yield srv
        finally:
            redelivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await redelivery


@contextlib.asynccontextmanager
async def gateway_services(
    client: Client,
    *,
    settings: PayflowSettings,
    paymentassist: PaymentAssistSettings,
    passimpay: PassimpaySettings,
    codec: PayloadCodec | None = None,
    checkouts: PaymentAssistCheckouts | None = None,
    ledger: Ledger | None = None,
) -> AsyncIterator[GatewayServices]:
    """What a gateway app is built from (`gateway.app.create_gateway`), closed after use."""
    currencies = KnownCurrencies(
        PassimpayClient(
            passimpay.api_url,
            passimpay.platform_id,
            passimpay.api_key,
            timeout=min(passimpay.timeout_seconds, CURRENCY_LIST_TIMEOUT),
            currencies_ttl=CURRENCY_LIST_TTL,
        )
    )
    bounds = CallBounds.from_settings(settings)
    notify_policy = NotifyPolicy.configured(settings)
    own_ledger = ledger is None
    ledger = ledger or Ledger.connect(
        settings.ledger_url(), timeout=settings.database_timeout_seconds
    )
    services = GatewayServices(
        checkouts=checkouts
        or PaymentAssistCheckouts(
            client,
            task_queue=settings.task_queue,
            public_url=settings.public_url,
            documents=DocumentStore.under(settings.state_dir),
            bounds=bounds,
            notify_url=settings.notify_url,
            notify_policy=notify_policy,
            ledger=ledger,
        ),
        paymentassist_secret=paymentassist.api_secret,
        crypto=PassimpayPayments(
            client,
            task_queue=settings.task_queue,
            bounds=bounds,
            notify_url=settings.notify_url,
            notify_policy=notify_policy,
            ledger=ledger,
        ),
        passimpay=PassimpayCallbackSettings(
            platform_id=passimpay.platform_id,
            secret=passimpay.api_key,
            allowed_ips=frozenset(passimpay.callback_allowed_ips),
            trusted_proxies=frozenset(settings.trusted_proxies),
            currencies=currencies,
        ),
        withdrawals=PassimpayWithdrawals(
            client,
            task_queue=settings.task_queue,
            bounds=bounds,
            notify_url=settings.notify_url,
            notify_policy=notify_policy,
            ledger=ledger,
        ),
        ledger=ledger,
        return_redirect_url=settings.return_redirect_url,
        return_secret=settings.notify_secret,
        access=AccessTokens.from_settings(
            settings.api_token,
            settings.operator_token,
            settings.operator_tokens,
            insecure=settings.insecure,
        ),
        codec=codec,
        ui_origins=tuple(settings.temporal_ui_origins()),
        max_in_flight=settings.gateway_max_in_flight,
        slot_wait_seconds=settings.gateway_slot_wait_seconds,
        bodies=BodyLimits(
            callbacks=settings.gateway_max_callback_body_bytes,
            api=settings.gateway_max_api_body_bytes,
            documents=settings.gateway_max_document_body_bytes,
            read_seconds=settings.gateway_body_timeout_seconds,
            readers=settings.gateway_max_body_readers,
        ),
        readiness=Readiness(
            client,
            settings.task_queue,
            max_poller_age=settings.ready_poller_max_age_seconds,
            timeout=settings.temporal_rpc_timeout_seconds,
            ttl=settings.ready_cache_seconds,
        ),
        metrics=gateway_metrics(client, settings),
    )
    if services.access.open:
        logging.getLogger("payflow.gateway").warning(
            "THE API IS OPEN: no token is set and PAYFLOW_INSECURE=true, so anyone who reaches"
            " port %s can start, read and resolve payments (set PAYFLOW_API_TOKEN and"
            " PAYFLOW_OPERATOR_TOKEN to close it)",
            settings.gateway_port,
        )
    try:
        yield services
    finally:
        await currencies.aclose()
        if own_ledger:
            await ledger.close()
