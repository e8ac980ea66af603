"""OpenTelemetry tracing, off unless `OTEL_TRACES_EXPORTER` names an exporter.

The standard variables configure it: `OTEL_TRACES_EXPORTER` (`console`, `otlp` with the
`payflow[otlp]` extra, or any installed exporter's entry-point name), `OTEL_EXPORTER_OTLP_*`,
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`. Off, nothing is installed: no
Temporal interceptor, no gateway middleware, and provider calls use the API's no-op tracer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points

from opentelemetry import context, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.client import Interceptor

from workflows.paymentassist_token_claim import CLAIM_ID_PREFIX

EXPORTER_VARIABLE = "OTEL_TRACES_EXPORTER"
EXPORTER_ENTRY_POINTS = "opentelemetry_traces_exporter"
DEFAULT_SERVICE_NAME = "payflow"

WORKFLOW_ID_ATTRIBUTE = "temporalWorkflowID"
REDACTED_PREFIXES = (CLAIM_ID_PREFIX,)
"""Workflow ids that embed a provider's application token: traced without it."""

_provider: TracerProvider | None = None


class RedactTokens(SpanProcessor):
    """Blank the token in the workflow ids the Temporal interceptor records (it sets them when
    a span starts, before any exporter sees the span)."""

    def on_start(self, span: Span, parent_context: context.Context | None = None) -> None:
        value = (span.attributes or {}).get(WORKFLOW_ID_ATTRIBUTE)
        if isinstance(value, str):
            for prefix in REDACTED_PREFIXES:
                if value.startswith(prefix):
                    span.set_attribute(WORKFLOW_ID_ATTRIBUTE, f"{prefix}[redacted]")


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (an exporter other than `none`, SDK enabled)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = exporter_names(environ)
    return bool(names) and names != ["none"]


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters `OTEL_TRACES_EXPORTER` lists, comma-separated."""
    raw = environ.get(EXPORTER_VARIABLE, "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def exporter_named(name: str) -> SpanExporter:
    """An installed span exporter by its entry-point name (`console`, `otlp`, ...)."""
    found = list(entry_points(group=EXPORTER_ENTRY_POINTS, name=name))
    if not found:
        hint = " (install payflow[otlp])" if name.startswith("otlp") else ""
        raise ValueError(f"{EXPORTER_VARIABLE}={name!r}: no such span exporter is installed{hint}")
    exporter: SpanExporter = found[0].load()()
    return exporter


def install_tracing(*exporters: SpanExporter) -> TracerProvider:
    """Make this process trace (once): the global tracer provider exports to `exporters`, or
    to those `OTEL_TRACES_EXPORTER` names when none are given."""
    global _provider
    if _provider is None:
        service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
        _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        _provider.add_span_processor(RedactTokens())  # first: exporters see the redacted span
        trace.set_tracer_provider(_provider)
    chosen = exporters or tuple(exporter_named(name) for name in exporter_names() if name != "none")
    for exporter in chosen:
        _provider.add_span_processor(BatchSpanProcessor(exporter))
    return _provider


def install_tracing_from_environment() -> None:
    """Trace when the environment asks for it; otherwise leave everything uninstalled."""
    if tracing_requested() and _provider is None:
        install_tracing()


def tracing_enabled() -> bool:
    """Whether this process traces."""
    return _provider is not None


def shutdown_tracing() -> None:
    """Export what is still buffered; before a process exits."""
    if _provider is not None:
        _provider.shutdown()


def temporal_interceptors() -> list[Interceptor]:
    """The Temporal client's interceptors (workers built on the client inherit them): the
    SDK's tracing interceptor when tracing is on, none otherwise (no cost per task)."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]
