"""One way to reach Temporal: the SDK's TEMPORAL_* environment, the pydantic converter always."""

from __future__ import annotations

import os

from temporalio.client import Client
from temporalio.converter import PayloadCodec
from temporalio.envconfig import ClientConfig

from payflow.codec import data_converter
from payflow.metrics import metrics_runtime
from payflow.tracing import temporal_interceptors

DEFAULT_ADDRESS = "127.0.0.1:7233"


def external_cluster_configured() -> bool:
    """True when TEMPORAL_ADDRESS points at an existing cluster instead of the embedded one."""
    return bool(os.environ.get("TEMPORAL_ADDRESS"))


async def connect(
    address: str | None = None,
    namespace: str | None = None,
    codec: PayloadCodec | None = None,
    *,
    metrics: bool = False,
) -> Client:
    """Connect with the pydantic data converter so money and models round-trip exactly, and
    `codec` sealing every payload (personal data never reaches Temporal in clear). With
    `metrics`, the SDK's own metrics are kept for this process's `/metrics`; with tracing on
    (`payflow.tracing`), calls and the workers built on this client are traced."""
    config = ClientConfig.load_client_connect_config()
    if address:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if namespace:
        config["namespace"] = namespace
    return await Client.connect(
        **config,
        data_converter=data_converter(codec),
        interceptors=temporal_interceptors(),
        runtime=metrics_runtime() if metrics else None,
    )
