"""The `payflow` command: the embedded dev stack, or the worker and gateway alone for production."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

import typer

from gateway.codec import CODEC_PATH
from payflow.codec import DEV_KEY_FILE, PayloadKeyError, codec_for, dev_key
from payflow.devserver import start_dev_server
from payflow.logs import configure_logging, warn_about_sandbox_defaults
from payflow.metrics import DEV_WORKER_METRICS_PORT
from payflow.settings import PassimpaySettings, PayflowSettings, PaymentAssistSettings
from payflow.stack import running_gateway, running_sandbox
from payflow.startup import api_problems, check_start, codec_problems, provider_problems
from payflow.temporal_client import connect, external_cluster_configured
from payflow.tracing import install_tracing_from_environment, shutdown_tracing

app = typer.Typer(help="Durable payment orchestration on Temporal.", no_args_is_help=True)


async def _until_stopped() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _dev() -> None:
    from worker import passimpay_client, paymentassist_client, running_worker

    settings = PayflowSettings()
    if settings.api_token is None:  # dev: an open API, each request logged as insecure
        settings = settings.model_copy(update={"insecure": True})
    if settings.worker_metrics_port is None:
        settings = settings.model_copy(update={"worker_metrics_port": DEV_WORKER_METRICS_PORT})
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
                    db_file=Path(settings.state_dir) / "temporal.db",
                    extra_args=["--ui-codec-endpoint", codec_url],
                )
            )
            client = await connect(server.address, codec=codec, metrics=True)
            lines.append(f"Temporal      {server.address}")
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


async def _gateway() -> None:
    logger = logging.getLogger("payflow.gateway")
    warn_about_sandbox_defaults(logger)
    settings = PayflowSettings()
    paymentassist, passimpay = PaymentAssistSettings(), PassimpaySettings()
    codec = codec_for(settings.payload_keys, settings.payload_key_id)
    problems = api_problems(settings) + provider_problems(paymentassist, passimpay)
    check_start(problems + codec_problems(codec), settings, logger)
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
    async with serve(app_, settings.codec_host, settings.codec_port) as server:
        typer.echo(
            f"codec server on {server.url} (POST /decode, /encode) for {', '.join(origins)}\n"
            f"start the UI with --ui-codec-endpoint {server.url}. Ctrl+C stops it."
        )
        await _until_stopped()


@app.command("codec-server")
def codec_server() -> None:
    """Serve the Temporal UI's codec endpoint alone (payload keys from PAYFLOW_PAYLOAD_KEYS)."""
    asyncio.run(_codec_server())


@app.command()
def dev() -> None:
    """Run everything: Temporal dev server with UI, worker, gateway and provider sandboxes."""
    asyncio.run(_dev())
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
    asyncio.run(_gateway())
    shutdown_tracing()
    os._exit(0)  # sdk-python#300


def main() -> None:
    """Console entry point."""
    configure_logging()
    install_tracing_from_environment()
    app()


if __name__ == "__main__":
    main()
