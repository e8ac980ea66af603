"""Run payflow's Temporal worker: every workflow and activity, credentials from settings only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.converter import PayloadCodec
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.decisions import DecisionActivities
from activities.heartbeat import HeartbeatInterceptor
from activities.ledger import LedgerActivities
from activities.merchant import MerchantActivities
from activities.passimpay import PassimpayActivities
from activities.passimpay_withdrawals import PassimpayWithdrawalActivities
from activities.paymentassist import PaymentAssistActivities
from ledger.migrate import require_current
from ledger.store import Ledger
from payflow import event_loop
from payflow.codec import codec_for
from payflow.decision_keys import client_decision_keys, decision_key_problems
from payflow.documents import DocumentStore
from payflow.http_server import RunningServer
from payflow.logs import configure_logging, warn_about_sandbox_defaults
from payflow.metrics import MetricsExposition, sdk_metrics_url, serving_metrics
from payflow.notify_targets import NotifyPolicy
from payflow.settings import PassimpaySettings, PayflowSettings, PaymentAssistSettings
from payflow.stack import RunningSandbox, running_gateway
from payflow.startup import check_ledger, check_start, codec_problems, provider_problems
from payflow.temporal_client import connect
from payflow.tracing import install_tracing_from_environment, shutdown_tracing
from providers.passimpay import PassimpayClient
from providers.paymentassist.client import PaymentAssistClient
from state.passimpay_withdrawal_models import WithdrawLimits, WithdrawPolicy
from workflows.passimpay_address import PassimpayAddress
from workflows.passimpay_invoice import PassimpayInvoice
from workflows.passimpay_unmatched import PassimpayUnmatchedCallbacks
from workflows.passimpay_withdraw_gate import PassimpayWithdrawGate
from workflows.passimpay_withdrawal import PassimpayWithdrawal
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3
from workflows.paymentassist_checkout_v1 import PaymentAssistCheckout
from workflows.paymentassist_checkout_v2 import PaymentAssistCheckoutV2
from workflows.paymentassist_token_claim import PaymentAssistTokenClaim

RETIRING = [PaymentAssistCheckoutV2, PaymentAssistCheckout]
"""Types no flow starts any more, registered only while runs of them may be open or queried;
each module's docstring gives the command that says when it can go, and what goes with it."""
WORKFLOWS = [
    PaymentAssistCheckoutV3,
    *RETIRING,
    PaymentAssistTokenClaim,
    PassimpayInvoice,
    PassimpayAddress,
    PassimpayUnmatchedCallbacks,
    PassimpayWithdrawal,
]

PASSED_THROUGH = ("workflows", "state", "activities", "providers", "payflow")
"""Our own packages, loaded once per worker instead of once per workflow run (41 % of a busy
worker's CPU went to re-importing them). Safe because they hold no mutable module state and
take time, randomness and I/O only from `temporalio.workflow` inside workflows; the replay
tests (tests/replay) fail on any nondeterminism this could let in."""
SANDBOXED = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
)


def workflow_runner(settings: PayflowSettings) -> WorkflowRunner:
    """The SDK's sandbox when `PAYFLOW_WORKFLOW_SANDBOX` asks for it (the test suite always
    does), else workflow code runs as plain Python: the sandbox costs a quarter of a busy
    worker's CPU (docs/performance.md), and what it would refuse at run time fails CI instead."""
    return SANDBOXED if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


STICKY_TIMEOUT = timedelta(seconds=2)
"""A dead worker's cached workflows resume elsewhere after this (a payout's slot is near)."""
GATE_STICKY_TIMEOUT = timedelta(seconds=1)


def activity_methods(holder: object) -> list[Callable[..., Any]]:
    """Every `@activity.defn` method of an activities object, bound to it."""
    return [
        getattr(holder, name)
        for name in dir(type(holder))
        if hasattr(getattr(type(holder), name), "__temporal_activity_definition")
    ]


def paymentassist_client(settings: PaymentAssistSettings | None = None) -> PaymentAssistClient:
    """The dealer's Payment Assist client, built from the environment."""
    settings = settings or PaymentAssistSettings()
    return PaymentAssistClient(
        settings.api_url,
        settings.api_key,
        settings.api_secret,
        timeout=settings.timeout_seconds,
    )


def passimpay_client(settings: PassimpaySettings | None = None) -> PassimpayClient:
    """The platform's Passimpay client, built from the environment."""
    settings = settings or PassimpaySettings()
    return PassimpayClient(
        settings.api_url,
        settings.platform_id,
        settings.api_key,
        timeout=settings.timeout_seconds,
    )


@contextlib.asynccontextmanager
async def running_worker(
    client: Client,
    *,
    settings: PayflowSettings | None = None,
    paymentassist: PaymentAssistClient | None = None,
    passimpay: PassimpayClient | None = None,
    withdraw_policy: WithdrawPolicy | None = None,
    withdraw_limits: WithdrawLimits | None = None,
    serve_gate: bool = True,
    ledger: Ledger | None = None,
) -> AsyncIterator[Worker]:
    """Run the worker for the duration of the block, closing provider clients after.

    `serve_gate=False` is for a second worker in a process that already serves the gate.
    Without `ledger`, the one settings name is opened (and closed after).
    """
    settings = settings or PayflowSettings()
    own_ledger = ledger is None
    ledger = ledger or Ledger.connect(
        settings.ledger_url(), timeout=settings.database_timeout_seconds
    )
    if own_ledger:  # fail now, not in every flow's first write
        try:
            await require_current(ledger.engine)
        except BaseException:
            await ledger.close()
            raise
    platform = PassimpaySettings()
    paymentassist = paymentassist or paymentassist_client()
    passimpay = passimpay or passimpay_client()
    merchant = MerchantActivities(
        settings.notify_secret,
        policy=NotifyPolicy.configured(settings),
        trusted_url=settings.notify_url,
    )
    proofs = client_decision_keys(client, settings)
    decisions = DecisionActivities(proofs)
    runner = workflow_runner(settings)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[
            *activity_methods(
                PaymentAssistActivities(
                    paymentassist, client, documents=DocumentStore.under(settings.state_dir)
                )
            ),
            *activity_methods(PassimpayActivities(passimpay)),
            *activity_methods(merchant),
            *activity_methods(LedgerActivities(ledger)),
            *activity_methods(decisions),
            *activity_methods(
                PassimpayWithdrawalActivities(
                    passimpay,
                    client,
                    gate_task_queue=settings.withdrawal_task_queue,
                    proofs=proofs,
                    policy=withdraw_policy
                    or WithdrawPolicy(unique_order_id=platform.unique_order_id),
                    limits=withdraw_limits or platform.withdraw_limits(),
                )
            ),
        ],
        interceptors=[HeartbeatInterceptor()],
        workflow_runner=runner,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_task_polls=settings.workflow_task_pollers,
        max_concurrent_activity_task_polls=settings.activity_task_pollers,
    )
    # Every worker also serves the platform-wide withdraw gate, so it outlives any one of them;
    # after a worker dies its gate tasks move to another within a second, not the default 10 s.
    gate = (
        Worker(
            client,
            task_queue=settings.withdrawal_task_queue,
            workflows=[PassimpayWithdrawGate],
            activities=activity_methods(decisions),  # the proof of each release
            workflow_runner=runner,
            sticky_queue_schedule_to_start_timeout=GATE_STICKY_TIMEOUT,
        )
        if serve_gate
        else contextlib.nullcontext()
    )
    metrics = serving_metrics(
        MetricsExposition(sdk_url=sdk_metrics_url(client)),
        settings.metrics_host,
        settings.worker_metrics_port,
    )
    try:
        async with worker, gate, metrics:
            yield worker
    finally:
        await paymentassist.aclose()
        await passimpay.aclose()
        await merchant.aclose()
        if own_ledger:
            await ledger.close()


@contextlib.asynccontextmanager
async def running_on_sandbox(
    client: Client,
    settings: PayflowSettings,
    sandbox: RunningSandbox,
    *,
    timeout_seconds: float | None = None,
    codec: PayloadCodec | None = None,
) -> AsyncIterator[RunningServer]:
    """A worker and the gateway wired to the simulators (tests, benches, history export);
    yields the gateway's server."""
    overrides = {} if timeout_seconds is None else {"timeout_seconds": timeout_seconds}
    paymentassist = sandbox.paymentassist_settings(**overrides)
    passimpay = sandbox.passimpay_settings(**overrides)
    async with (
        running_worker(
            client,
            settings=settings,
            paymentassist=paymentassist_client(paymentassist),
            passimpay=passimpay_client(passimpay),
        ),
        running_gateway(
            client,
            settings=settings,
            paymentassist=paymentassist,
            passimpay=passimpay,
            codec=codec,
        ) as gateway,
    ):
        yield gateway


async def serve_forever() -> None:
    """Run until SIGINT or SIGTERM, then finish in-flight tasks and stop."""
    logger = logging.getLogger("payflow.worker")
    warn_about_sandbox_defaults(logger)
    settings = PayflowSettings()
    codec = codec_for(settings.payload_keys, settings.payload_key_id)
    problems = provider_problems(PaymentAssistSettings(), PassimpaySettings())
    problems += codec_problems(codec) + decision_key_problems(settings)
    check_start(problems, settings, logger)
    await check_ledger(settings)
    client = await connect(codec=codec, metrics=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client):
        await stop.wait()


def main() -> None:
    """Entry point for `python worker.py` and `payflow worker`."""
    configure_logging()
    install_tracing_from_environment()
    event_loop.run(serve_forever())
    shutdown_tracing()
    os._exit(0)  # sdk-python#300: avoid an abort at interpreter exit after Temporal work


if __name__ == "__main__":
    main()
