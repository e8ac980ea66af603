"""A server span per gateway request, named by its route template, never by its URL.

Attributes are the method, the route template and the status code: paths carry order ids,
query strings carry signatures and tokens, and headers and bodies carry secrets and customers'
data, so none of those are recorded. An incoming W3C `traceparent` is continued.
"""

from __future__ import annotations

from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FASTAPI_TELEMETRY_OFF = TelemetryConfig(tracing=False, metrics=False, logs=False)
"""FastAPI's own OpenTelemetry records query strings (signatures, tokens) and exception
messages: it stays off, and `RequestSpans` traces the gateway instead."""
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: frequent, and nothing to follow."""
PROPAGATION_HEADERS = (b"traceparent", b"tracestate")


class RequestSpans:
    """ASGI middleware: one SERVER span around each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tracer = trace.get_tracer("payflow.gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in PROPAGATION_HEADERS
        }
        method = scope["method"]
        with self._tracer.start_as_current_span(
            method,
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=False,  # messages may quote what the caller sent
            set_status_on_exception=False,
        ) as span:

            async def send_and_note(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                await send(message)

            try:
                await self.app(scope, receive, send_and_note)
            except Exception as error:
                span.set_attribute("error.type", type(error).__name__)
                span.set_status(trace.StatusCode.ERROR)
                raise
            finally:
                template = getattr(scope.get("route"), "path", None)
                if isinstance(template, str):
                    span.set_attribute("http.route", template)
                    span.update_name(f"{method} {template}")
