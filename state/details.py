"""What the Temporal UI shows as a flow's current details: where it stands and why it waits."""

from __future__ import annotations

from collections.abc import Iterable


def current_details(status: str, reasons: Iterable[str] = (), waiting: str | None = None) -> str:
    """Markdown for operators: the status, what the flow waits for, and every open reason to
    look (the event history and the `state` query stay the full record)."""
    lines = [f"**Status:** {status}"]
    if waiting:
        lines.append(f"**Waiting:** {waiting}")
    lines.extend(f"**Needs attention:** {reason}" for reason in reasons)
    return "\n\n".join(lines)
