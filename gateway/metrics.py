"""The gateway's `/metrics` and the count of provider callbacks it verified or rejected."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import Counter

from payflow.metrics import MetricsExposition, metrics_response

CALLBACKS = Counter(
    "payflow_callbacks",
    "Provider callbacks by provider, kind (return, webhook, callback) and outcome: verified "
    "(signature and sender checked) or rejected (not signalled).",
    ["provider", "kind", "outcome"],
)

CALLBACK_KINDS = (
    ("paymentassist", "return"),
    ("paymentassist", "webhook"),
    ("passimpay", "callback"),
)
for _provider, _kind in CALLBACK_KINDS:  # every series exists from the start, at 0
    for _outcome in ("verified", "rejected"):
        CALLBACKS.labels(_provider, _kind, _outcome)

router = APIRouter(tags=["health"])


def count_callback(provider: str, kind: str, *, verified: bool) -> None:
    """Count one callback the gateway checked."""
    CALLBACKS.labels(provider, kind, "verified" if verified else "rejected").inc()


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus text: payflow's series, flow counts from Temporal, the Temporal SDK's."""
    exposition: MetricsExposition = request.app.state.services.metrics
    return await metrics_response(exposition)
