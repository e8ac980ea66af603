"""Latency, errors and a span for every provider call, labelled only by provider and endpoint.

Labels and span attributes name the endpoint's path and the kind of failure, never a token,
an order id, a query string or a body: they are read by people who must not see those.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from opentelemetry import trace
from prometheus_client import Counter, Histogram

PROVIDER_CALL_SECONDS = Histogram(
    "payflow_provider_request_duration_seconds",
    "Seconds a provider call took, from sending to a parsed reply or a failure.",
    ["provider", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROVIDER_CALL_ERRORS = Counter(
    "payflow_provider_request_errors",
    "Provider calls that failed, by kind: not_sent, transient (timeout, transport, 5xx, bad "
    "reply), no_reply (a written /v2/withdraw without a reply), refused (the provider said "
    "no), invalid_input, other.",
    ["provider", "endpoint", "error"],
)
ERROR_KINDS = {
    "NotSent": "not_sent",
    "Transient": "transient",
    "Refused": "refused",
    "InvalidInput": "invalid_input",
    "NoReply": "no_reply",
}

_tracer = trace.get_tracer("payflow.providers")


def error_kind(error: BaseException) -> str:
    """A low-cardinality name for a failure: the nearest provider error class, else `other`."""
    for klass in type(error).__mro__:
        kind = ERROR_KINDS.get(klass.__name__)
        if kind is not None:
            return kind
    return "other"


@contextlib.contextmanager
def observed_call(provider: str, endpoint: str) -> Iterator[trace.Span]:
    """Time the block as one call of `endpoint`, count its failure, and trace it as a client
    span (a no-op span unless tracing is on); the caller may add the reply's status code."""
    with _tracer.start_as_current_span(
        f"{provider} {endpoint}",
        kind=trace.SpanKind.CLIENT,
        attributes={"payflow.provider": provider, "payflow.endpoint": endpoint},
        record_exception=False,  # messages may quote the provider's reply: kinds only
        set_status_on_exception=False,
    ) as span:
        started = time.perf_counter()
        try:
            yield span
        except Exception as error:
            kind = error_kind(error)
            PROVIDER_CALL_ERRORS.labels(provider, endpoint, kind).inc()
            span.set_attribute("error.type", kind)
            span.set_status(trace.StatusCode.ERROR)
            raise
        finally:
            PROVIDER_CALL_SECONDS.labels(provider, endpoint).observe(time.perf_counter() - started)
