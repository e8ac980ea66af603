"""What a flow costs the cluster in Temporal's own counts: frontend requests by operation,
persistence and visibility writes, read from the dev server's Prometheus endpoint."""

from __future__ import annotations

import re
from collections import Counter

import httpx

COUNTED = {
    "service_requests": "frontend",
    "persistence_requests": None,
    "visibility_persistence_requests": None,
}
"""Counter name -> the only `service_name` counted (None: every service)."""
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')
SHOWN = 12
"""Operations listed per kind: the costliest."""


def metrics_args(port: int) -> list[str]:
    """`temporal server start-dev` arguments that serve /metrics on `port`."""
    return ["--metrics-port", str(port)]


def scrape(url: str) -> Counter[str]:
    """Each counted operation's total so far, keyed `counter:operation`."""
    counts: Counter[str] = Counter()
    for line in httpx.get(url, timeout=10).text.splitlines():
        sample = SAMPLE.match(line)
        if sample is None or sample["name"] not in COUNTED:
            continue
        labels = dict(LABEL.findall(sample["labels"]))
        service = COUNTED[sample["name"]]
        if service is not None and labels.get("service_name") != service:
            continue
        counts[f"{sample['name']}:{labels.get('operation', '?')}"] += int(float(sample["value"]))
    return counts


def per_flow(before: Counter[str], after: Counter[str], flows: int) -> dict[str, float]:
    """Each operation's count per flow between two scrapes."""
    return {key: (after[key] - before[key]) / flows for key in after if after[key] > before[key]}


def totals(counts: dict[str, float]) -> dict[str, float]:
    """Per counter: the sum over its operations."""
    summed: Counter[str] = Counter()
    for key, value in counts.items():
        summed[key.split(":", 1)[0]] += value  # type: ignore[assignment]
    return dict(summed)


def table(ours: dict[str, float], theirs: dict[str, float]) -> list[str]:
    """Lines comparing two flows' per-flow counts, totals first, then the top operations."""
    lines = []
    for counter in COUNTED:
        a, b = totals(ours).get(counter, 0.0), totals(theirs).get(counter, 0.0)
        lines.append(f"  {counter:40} {a:7.1f} | {b:7.1f}")
        keys = {k for k in (*ours, *theirs) if k.startswith(f"{counter}:")}
        ranked = sorted(keys, key=lambda k: -max(ours.get(k, 0.0), theirs.get(k, 0.0)))
        for key in ranked[:SHOWN]:
            operation = key.split(":", 1)[1]
            lines.append(
                f"    {operation:38} {ours.get(key, 0.0):7.1f} | {theirs.get(key, 0.0):7.1f}"
            )
    return lines
