"""The `payflow` command: the embedded dev stack, or the worker and gateway alone for production."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.codec import CODEC_PATH
from ledger.migrate import current_revision, upgrade
from ledger.store import Ledger
from payflow import cli_flows, cli_inbox, cli_sandbox, event_loop
from payflow.cli_events import events_app
from payflow.cli_ledger import db_app, ledger_app
from payflow.cli_reconcile import reconcile_command
from payflow.codec import DEV_KEY_FILE, PayloadKeyError, codec_for, dev_key
from payflow.decision_keys import decision_key_problems
from payflow.devserver import set_retention, start_dev_server
from payflow.logs import configure_logging, warn_about_sandbox_defaults
from payflow.metrics import DEV_WORKER_METRICS_PORT
from payflow.ports import Listener, PortTaken, ensure_free
from payflow.reset import TEMPORAL_DB, describe_reset, reset_dev_state
from payflow.settings import PassimpaySettings, PayflowSettings, PaymentAssistSettings
from payflow.stack import running_gateway, running_sandbox
from payflow.startup import (
    api_problems,
    check_ledger,
    check_start,
    codec_problems,
    provider_problems,
)
from payflow.temporal_client import connect, external_cluster_configured
from payflow.tracing import install_tracing_from_environment, shutdown_tracing

app = typer.Typer(help="Durable payment orchestration on Temporal.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(cli_flows.app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(cli_inbox.app, name="inbox")
app.command("reconcile")(reconcile_command)
app.add_typer(cli_sandbox.app, name="sandbox")


async def _until_stopped() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _dev_listeners(settings: PayflowSettings) -> list[Listener]:
    """Every port `payflow dev` opens, with the setting that moves it."""
    host = settings.gateway_host
    found = [Listener(host, settings.gateway_port, "PAYFLOW_GATEWAY_PORT")]
    if not external_cluster_configured():
        found += [
            Listener("127.0.0.1", settings.temporal_port, "PAYFLOW_TEMPORAL_PORT"),
            Listener("127.0.0.1", settings.temporal_ui_port, "PAYFLOW_TEMPORAL_UI_PORT"),
        ]
    if not ("PAYMENTASSIST_API_URL" in os.environ and "PASSIMPAY_API_URL" in os.environ):
        found.append(Listener(host, settings.sandbox_port, "PAYFLOW_SANDBOX_PORT"))
    return found


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run a command; a taken port is one line on stderr and exit status 1, no traceback."""
    try:
        event_loop.run(main)
    except PortTaken as taken:
        typer.echo(f"payflow: {taken}", err=True)
        raise typer.Exit(1) from None


async def _dev(reset: bool = False) -> None:
    from worker import passimpay_client, paymentassist_client, running_worker

    settings = PayflowSettings()
    ensure_free(_dev_listeners(settings))  # before anything is removed or started
    if reset:
        local = not external_cluster_configured()
        removed = reset_dev_state(settings.state_dir, local_temporal=local)
        typer.echo(describe_reset(settings.state_dir, removed))
    if settings.api_token is None:  # dev: an open API, each request logged as insecure
        settings = settings.model_copy(update={"insecure": True})
    if settings.worker_metrics_port is None:
        settings = settings.model_copy(update={"worker_metrics_port": DEV_WORKER_METRICS_PORT})
    if "PAYFLOW_NOTIFY_PRIVATE_HOSTS" not in os.environ:  # a merchant's endpoint on this machine
        settings = settings.model_copy(update={"notify_private_hosts": True})
    await _dev_ledger(settings)
    keys = settings.payload_keys or dev_key(settings.state_dir)
    codec = codec_for(keys, settings.payload_key_id)
    codec_url = f"http://{settings.gateway_host}:{settings.gateway_port}{CODEC_PATH}"
    async with contextlib.AsyncExitStack() as stack:
        lines: list[str] = []
        if external_cluster_configured():
            client = await connect(codec=codec, metrics=True)
            lines.append(f"Temporal      {os.environ['TEMPORAL_ADDRESS']} (existing cluster)")
        else:
            server = await stack.enter_async_context(
                start_dev_server(
                    port=settings.temporal_port,
                    ui_port=settings.temporal_ui_port,
                    db_file=Path(settings.state_dir) / TEMPORAL_DB,
                    extra_args=["--ui-codec-endpoint", codec_url],
                )
            )
            client = await connect(server.address, codec=codec, metrics=True)
            retention = await set_retention(client)
            days = retention.total_seconds() / 86400
            lines.append(f"Temporal      {server.address} (closed workflows kept {days:g} days)")
            lines.append(f"Temporal UI   {server.ui_url}")
        paymentassist, passimpay = PaymentAssistSettings(), PassimpaySettings()
        real_paymentassist = "PAYMENTASSIST_API_URL" in os.environ
        real_passimpay = "PASSIMPAY_API_URL" in os.environ
        if not (real_paymentassist and real_passimpay):
            sandbox = await stack.enter_async_context(
                running_sandbox(
                    settings.gateway_host,
                    settings.sandbox_port,
                    passimpay_callback_url=f"{settings.public_url}/webhooks/passimpay",
                    state_dir=settings.state_dir,
                )
            )
            lines.append(f"Sandboxes     {sandbox.server.url}  (/paymentassist, /passimpay)")
            if not real_paymentassist:
                paymentassist = sandbox.paymentassist_settings()
            if not real_passimpay:
                passimpay = sandbox.passimpay_settings()
        lines.append(f"PaymentAssist {paymentassist.api_url}")
        lines.append(f"Passimpay     {passimpay.api_url}")
        await stack.enter_async_context(
            running_worker(
                client,
                settings=settings,
                paymentassist=paymentassist_client(paymentassist),
                passimpay=passimpay_client(passimpay),
            )
        )
        gateway = await stack.enter_async_context(
            running_gateway(
                client,
                settings=settings,
                paymentassist=paymentassist,
                passimpay=passimpay,
                codec=codec,
            )
        )
        lines.append(f"Gateway       {gateway.url}  (API docs {gateway.url}/docs)")
        lines.append(f"Worker        task queue {settings.task_queue!r}")
        lines.append(
            f"Metrics       {gateway.url}/metrics, "
            f"http://{settings.metrics_host}:{settings.worker_metrics_port}/metrics"
        )
        typer.echo("payflow is running:\n  " + "\n  ".join(lines) + "\nCtrl+C stops it.")
        await _until_stopped()


async def _dev_ledger(settings: PayflowSettings) -> None:
    """Create the embedded ledger's schema on first start; refuse a schema that is behind."""
    ledger = Ledger.connect(settings.ledger_url(), timeout=settings.database_timeout_seconds)
    try:
        if await current_revision(ledger.engine) is None:
            await upgrade(ledger.engine)
    finally:
        await ledger.close()
    await check_ledger(settings)


async def _gateway() -> None:
    logger = logging.getLogger("payflow.gateway")
    warn_about_sandbox_defaults(logger)
    settings = PayflowSettings()
    paymentassist, passimpay = PaymentAssistSettings(), PassimpaySettings()
    codec = codec_for(settings.payload_keys, settings.payload_key_id)
    problems = api_problems(settings) + provider_problems(paymentassist, passimpay)
    problems += codec_problems(codec) + decision_key_problems(settings)
    check_start(problems, settings, logger)
    ensure_free([Listener(settings.gateway_host, settings.gateway_port, "PAYFLOW_GATEWAY_PORT")])
    await check_ledger(settings)
    client = await connect(codec=codec, metrics=True)
    async with running_gateway(
        client, settings=settings, paymentassist=paymentassist, passimpay=passimpay, codec=codec
    ):
        await _until_stopped()


async def _codec_server() -> None:
    from gateway.access import AccessTokens
    from payflow.codec_server import create_codec_app
    from payflow.http_server import serve

    logger = logging.getLogger("payflow.codec_server")
    settings = PayflowSettings()
    keys = settings.payload_keys
    if not keys and (Path(settings.state_dir) / DEV_KEY_FILE).exists():
        keys = dev_key(settings.state_dir)  # beside `payflow dev`: its own key
    try:
        codec = codec_for(keys, settings.payload_key_id)
    except PayloadKeyError as error:
        raise typer.BadParameter(str(error)) from None
    if codec is None:
        raise typer.BadParameter("PAYFLOW_PAYLOAD_KEYS is not set: there is nothing to open")
    access = AccessTokens.from_settings(
        settings.api_token, settings.operator_token, settings.operator_tokens
    )
    if not access.operators:
        logger.warning("no operator token: the codec endpoint opens payloads for any caller")
    origins = settings.temporal_ui_origins()
    app_ = create_codec_app(codec, access, origins)
    ensure_free([Listener(settings.codec_host, settings.codec_port, "PAYFLOW_CODEC_PORT")])
    async with serve(app_, settings.codec_host, settings.codec_port) as server:
        typer.echo(
            f"codec server on {server.url} (POST /decode, /encode) for {', '.join(origins)}\n"
            f"start the UI with --ui-codec-endpoint {server.url}. Ctrl+C stops it."
        )
        await _until_stopped()


@app.command("codec-server")
def codec_server() -> None:
    """Serve the Temporal UI's codec endpoint alone (payload keys from PAYFLOW_PAYLOAD_KEYS)."""
    _run(_codec_server())


@app.command()
def dev(
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Start clean: remove the sandboxes' state and the Temporal dev db (with its "
            "payload key) from the state dir first.",
        ),
    ] = False,
) -> None:
    """Run everything: Temporal dev server with UI, worker, gateway and provider sandboxes.

    State (flows, sandboxes) lives in PAYFLOW_STATE_DIR and survives a restart."""
    _run(_dev(reset))
    shutdown_tracing()
    os._exit(0)  # sdk-python#300


@app.command()
def worker() -> None:
    """Run the worker alone (production): Temporal from TEMPORAL_*, providers from settings."""
    from worker import main

    main()


@app.command()
def gateway() -> None:
    """Run the gateway alone (production)."""
    _run(_gateway())
    shutdown_tracing()
    os._exit(0)  # sdk-python#300


def main() -> None:
    """Console entry point; exits explicitly once done (sdk-python#300)."""
    configure_logging()
    install_tracing_from_environment()
    try:
        app()
    except SystemExit as done:
        code = done.code
        if isinstance(code, str):  # sys.exit("why"): the interpreter would have printed it
            print(code, file=sys.stderr)
    else:
        code = 0
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    main()
