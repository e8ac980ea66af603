"""One Prometheus scrape target per process: payflow's own series and the Temporal SDK's.

The SDK's metrics are kept by its Rust core, which aggregates them at no Python cost and serves
them as Prometheus text on a port of its own. That port is bound to a free loopback address and
its text appended to prometheus-client's at each scrape, so `/metrics` has everything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from payflow.http_server import RunningServer, free_port, serve

SDK_SCRAPE_TIMEOUT = 2.0
DEV_WORKER_METRICS_PORT = 9464

logger = logging.getLogger("payflow.metrics")

_runtime: Runtime | None = None
_sdk_url: str | None = None


def metrics_runtime() -> Runtime:
    """This process's Temporal runtime with the SDK's Prometheus exporter on a loopback port;
    made once (each runtime has its own threads), shared by every client that asks."""
    global _runtime, _sdk_url
    if _runtime is None:
        address = f"127.0.0.1:{free_port()}"
        _runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=address, counters_total_suffix=True, durations_as_seconds=True
                )
            )
        )
        _sdk_url = f"http://{address}/metrics"
    return _runtime


def sdk_metrics_url(client: Client) -> str | None:
    """Where the SDK metrics of `client` (and of workers built on it) are served; None unless
    it was connected with `metrics_runtime`."""
    if _runtime is None or client.service_client.config.runtime is not _runtime:
        return None
    return _sdk_url


class MetricsExposition:
    """Renders a scrape: `refreshers` run first (async look-ups that collectors then read), then
    the registries, then the SDK's text when this process has it."""

    def __init__(
        self,
        *,
        registries: Sequence[CollectorRegistry] = (REGISTRY,),
        refreshers: Sequence[Callable[[], Awaitable[None]]] = (),
        sdk_url: str | None = None,
    ) -> None:
        self._registries = tuple(registries)
        self._refreshers = tuple(refreshers)
        self._sdk_url = sdk_url

    async def render(self) -> bytes:
        """The whole exposition in Prometheus text format."""
        for refresh in self._refreshers:
            await refresh()
        parts = [generate_latest(registry) for registry in self._registries]
        if self._sdk_url:
            parts.append(await self._sdk_text(self._sdk_url))
        return b"".join(parts)

    @staticmethod
    async def _sdk_text(url: str) -> bytes:
        try:
            async with httpx.AsyncClient(timeout=SDK_SCRAPE_TIMEOUT) as http:
                reply = await http.get(url)
                reply.raise_for_status()
        except httpx.HTTPError as error:
            logger.warning("Temporal SDK metrics unavailable: %s", type(error).__name__)
            return b""
        text = reply.content
        return text if text.endswith(b"\n") or not text else text + b"\n"


async def metrics_response(exposition: MetricsExposition) -> Response:
    """A scrape's HTTP answer."""
    return Response(await exposition.render(), media_type=CONTENT_TYPE_LATEST)


def metrics_app(exposition: MetricsExposition) -> Starlette:
    """A bare app with only `GET /metrics`: the worker's scrape target."""

    async def metrics(_: Request) -> Response:
        return await metrics_response(exposition)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


@contextlib.asynccontextmanager
async def serving_metrics(
    exposition: MetricsExposition, host: str, port: int | None
) -> AsyncIterator[RunningServer | None]:
    """Serve `/metrics` for the block when a port is set; nothing (None) when it is 0 or unset."""
    if not port:
        yield None
        return
    async with serve(metrics_app(exposition), host, port) as server:
        yield server
