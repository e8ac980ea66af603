"""How the sandbox writes `/status`, one switch per format the provider's docs leave open."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Literal

DateFormat = Literal["iso", "php"]
EXTRA_FIELDS: dict[str, Any] = {
    "order_id_hint": None,
    "dealer": {"id": 42, "branch": "sandbox"},
    "plan_name": "4-Payment",
}


@dataclass
class StatusVariants:
    """The defaults are the project's decisions; each switch answers one open question."""

    date_format: DateFormat = "iso"
    """`iso` (2020-09-10T14:31:05+00:00) or `php` (`Y-m-d H:i:s T`: 2020-09-10 14:31:05 UTC)."""
    pa_ref_as_number: bool = False
    """Send a completed `pa_ref` as a JSON number instead of a string."""
    extra_fields: bool = False
    """Add fields the documentation does not list."""
    underscore_in_progress: bool = False
    """Spell `in progress` as `in_progress`."""
    numeric_strings: bool = False
    """Send `amount` as a string and booleans as 0/1."""
    undocumented_status: str | None = None
    """Report this status word, which the documentation does not list, instead of the real one."""

    def date(self, timestamp: float | None) -> str | None:
        """A clock reading in the chosen format."""
        if timestamp is None:
            return None
        moment = dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(microsecond=0)
        if self.date_format == "php":
            return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
        return moment.isoformat()

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """Rewrite a `/status` body (dates already formatted) according to the switches."""
        shaped = dict(data)
        digits = "".join(c for c in str(shaped.get("pa_ref") or "") if c.isdigit())
        if self.pa_ref_as_number and digits:
            shaped["pa_ref"] = int(digits)
        if self.underscore_in_progress and shaped.get("status") == "in progress":
            shaped["status"] = "in_progress"
        if self.numeric_strings:
            shaped["amount"] = str(shaped["amount"])
            for flag in ("requires_invoice", "has_invoice"):
                shaped[flag] = int(bool(shaped[flag]))
        if self.extra_fields:
            shaped.update(EXTRA_FIELDS)
        if self.undocumented_status is not None:
            shaped["status"] = self.undocumented_status
        return shaped

    def snapshot(self) -> dict[str, Any]:
        """The switches as the control routes show them."""
        return asdict(self)
