"""Failures the sandbox injects on demand: broken endpoints, lost webhooks, failed deposits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from sandbox.paymentassist.operations import ENDPOINTS

FailMode = Literal["500", "503", "401", "403", "404", "timeout", "lose_response", "late_response"]
REFUSING_MODES = frozenset({"401", "403", "404"})
"""Refusals a call can meet without the lender having looked at it: a rotated key, a WAF, a
route lost in a deploy."""


@dataclass
class EndpointFault:
    """How the next calls to one endpoint fail."""

    mode: FailMode
    remaining: int
    delay: float


@dataclass
class _Budget:
    """How many more events a webhook fault applies to; None means until cleared."""

    remaining: int | None

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


def _budget_view(budget: _Budget | None) -> dict[str, int | None] | None:
    """None when the fault is off; `remaining` None when it lasts until cleared."""
    return None if budget is None else {"remaining": budget.remaining}


class PaymentAssistFaults:
    """The fault switchboard; each fault is consumed as calls and events pass through."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Back to a healthy provider."""
        self._endpoints: dict[str, EndpointFault] = {}
        self._drop: _Budget | None = None
        self._duplicate: _Budget | None = None
        self._webhook_delay = 0.0
        self._deposit_failures: dict[str | None, str] = {}

    def fail_next(self, endpoint: str, mode: FailMode, times: int = 1, delay: float = 5.0) -> None:
        """Make the next `times` calls to `endpoint` fail in `mode`.

        "500"/"503" answer that status without acting, and so do "401"/"403"/"404" (with the
        error envelope); "timeout" waits `delay` seconds and answers 504 without acting;
        "lose_response" acts, then answers 502 with a non-JSON body; "late_response" acts, then
        answers as usual `delay` seconds later.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINTS)}")
        if mode not in get_args(FailMode):
            raise ValueError(f"unknown fault mode {mode!r}; expected one of {get_args(FailMode)}")
        if times < 1 or delay < 0:
            raise ValueError("times must be at least 1 and delay at least 0")
        self._endpoints[endpoint] = EndpointFault(mode, times, delay)

    def take_endpoint_fault(self, endpoint: str) -> EndpointFault | None:
        """Consume one failure planned for `endpoint`, if any."""
        fault = self._endpoints.get(endpoint)
        if fault is None:
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            del self._endpoints[endpoint]
        return fault

    def drop_webhooks(self, times: int | None = None) -> None:
        """Never send the next `times` webhook events (None: all of them until cleared)."""
        self._drop = _Budget(times)

    def duplicate_webhooks(self, times: int | None = None) -> None:
        """Deliver the next `times` webhook events twice (None: all until cleared)."""
        self._duplicate = _Budget(times)

    def delay_webhooks(self, seconds: float) -> None:
        """Hold every webhook event this long before its first attempt (0 turns it off)."""
        if seconds < 0:
            raise ValueError("seconds must be at least 0")
        self._webhook_delay = seconds

    def webhook_copies(self) -> int:
        """How many copies of the next webhook event to send: 0 dropped, 1 normal, 2 doubled."""
        if self._drop is not None and self._drop.take():
            return 0
        if self._duplicate is not None and self._duplicate.take():
            return 2
        return 1

    @property
    def webhook_delay(self) -> float:
        return self._webhook_delay

    def fail_deposit(self, token: str | None = None, reason: str = "card declined") -> None:
        """Make the next capture of `token` (None: of any application) fail to take the deposit."""
        self._deposit_failures[token] = reason

    def take_deposit_failure(self, token: str) -> str | None:
        """Consume the deposit failure planned for this token, else one planned for any token."""
        if token in self._deposit_failures:
            return self._deposit_failures.pop(token)
        return self._deposit_failures.pop(None, None)

    def snapshot(self) -> dict[str, Any]:
        """The faults still armed, for the control routes."""
        return {
            "endpoints": {
                name: {"mode": fault.mode, "remaining": fault.remaining, "delay": fault.delay}
                for name, fault in self._endpoints.items()
            },
            "drop_webhooks": _budget_view(self._drop),
            "duplicate_webhooks": _budget_view(self._duplicate),
            "webhook_delay": self._webhook_delay,
            "deposit_failures": {str(token): r for token, r in self._deposit_failures.items()},
        }
