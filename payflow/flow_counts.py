"""Flows by provider and Temporal status, and those needing attention, counted by Temporal.

Visibility already knows every flow's provider, status and attention flag (search attributes
the workflows publish), so a scrape asks it: a few `count_workflows` calls, reused for `ttl`
seconds. Nothing is counted in workflow code, so replays and continue-as-new cannot skew it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio.client import Client

PROVIDERS = ("paymentassist", "passimpay")
NOT_FLOWS = "PaymentStatus NOT IN ('gate', 'inbox')"
"""The withdraw gate and the unmatched-callback inbox are infrastructure, not payments."""

logger = logging.getLogger("payflow.flow_counts")


@dataclass(frozen=True)
class FlowSnapshot:
    """One scrape's counts: (provider, Temporal status) -> flows, provider -> needing attention."""

    flows: dict[tuple[str, str], int]
    attention: dict[str, int]


class FlowCounts(Collector):
    """A prometheus-client collector of `payflow_flows` and `payflow_flows_needing_attention`;
    `refresh` (async, before a scrape) asks Temporal when the last answer is older than `ttl`."""

    def __init__(
        self,
        client: Client,
        *,
        ttl: float = 5.0,
        timeout: float = 5.0,
        providers: Sequence[str] = PROVIDERS,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._timeout = timeout
        self._providers = tuple(providers)
        self._snapshot: FlowSnapshot | None = None
        self._taken_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Count again unless the last counts are fresh; on failure, expose none (not stale)."""
        async with self._lock:
            if time.monotonic() - self._taken_at < self._ttl:
                return
            try:
                self._snapshot = await asyncio.wait_for(self._count(), self._timeout)
            except Exception as error:  # noqa: BLE001 - a scrape must answer whatever happened
                logger.warning("flow counts unavailable: %s", type(error).__name__)
                self._snapshot = None
            self._taken_at = time.monotonic()

    async def _count(self) -> FlowSnapshot:
        by_status = await asyncio.gather(
            *(
                self._client.count_workflows(
                    f"PaymentProvider = '{provider}' AND {NOT_FLOWS} GROUP BY ExecutionStatus"
                )
                for provider in self._providers
            )
        )
        attention = await asyncio.gather(
            *(
                self._client.count_workflows(
                    f"PaymentProvider = '{provider}' AND NeedsAttention = true "
                    "AND ExecutionStatus = 'Running'"
                )
                for provider in self._providers
            )
        )
        flows: dict[tuple[str, str], int] = {}
        for provider, counted in zip(self._providers, by_status, strict=True):
            for group in counted.groups:
                status = str(group.group_values[0]) if group.group_values else "unknown"
                flows[(provider, status.lower())] = group.count
        return FlowSnapshot(
            flows=flows,
            attention={
                provider: counted.count
                for provider, counted in zip(self._providers, attention, strict=True)
            },
        )

    def collect(self) -> Iterable[Metric]:
        snapshot = self._snapshot
        if snapshot is None:
            return
        flows = GaugeMetricFamily(
            "payflow_flows",
            "Payment flows by provider and Temporal execution status (running, completed, "
            "failed, terminated, ...), as Temporal's visibility counts them.",
            labels=["provider", "status"],
        )
        for (provider, status), count in sorted(snapshot.flows.items()):
            flows.add_metric([provider, status], count)
        yield flows
        attention = GaugeMetricFamily(
            "payflow_flows_needing_attention",
            "Running flows flagged NeedsAttention (an operator must look), by provider.",
            labels=["provider"],
        )
        for provider, count in sorted(snapshot.attention.items()):
            attention.add_metric([provider], count)
        yield attention
