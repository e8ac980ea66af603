"""Run an ASGI app with uvicorn inside the current event loop, on a chosen or free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a port that is free right now on the given loopback host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    """Where a server started by `serve` can be reached."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serve(
    app: object, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningServer]:
    """Serve `app` until the block exits; port 0 picks a free one."""
    bound = port or free_port(host)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any loopback peer;
    # the gateway reads it itself, and only from PAYFLOW_TRUSTED_PROXIES (gateway.client_address)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=bound,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # caller owns signals
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
                raise RuntimeError(f"server on {host}:{bound} stopped while starting")
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError(f"server on {host}:{bound} did not start within 5 s")
        yield RunningServer(host, bound)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
