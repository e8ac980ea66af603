"""Send slots for `/v2/withdraw`: the arithmetic that keeps every platform under 1 request/s.

The provider blocks a platform that sends two withdraw requests less than 1.0 s apart. The gate
hands out slots `[not_before, send_by]`; a sender may only send inside its slot. Consecutive
slots start `SPACING` apart, so two sends are always more than `SPACING - WINDOW` (1.03 s) apart:
`MARGIN` of that is left for network and clock jitter.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

PROVIDER_MIN_INTERVAL = 1.0
"""The provider's limit: seconds between two withdraw requests of one platform."""
WINDOW = 0.10
"""How late after `not_before` a send may still leave; later, the slot is given up unused."""
MARGIN = 0.03
"""Room for network latency differences and clock skew between workers."""
SPACING = PROVIDER_MIN_INTERVAL + WINDOW + MARGIN
"""Seconds between the starts of two consecutive slots (1.13 s: at most 0.885 sends/s)."""
LEAD = 0.5
"""An idle gate's first slot starts this long after the reservation, time to reach a worker."""
RECENT_LIMIT = 50
"""Reservations a gate keeps for operators to inspect."""

GATE_WORKFLOW = "PassimpayWithdrawGate"
"""The gate's workflow type; activities address it by name."""
RESERVE_UPDATE = "reserve"
"""The gate's update that hands out one slot."""


def gate_workflow_id(platform_id: int) -> str:
    """The one gate of a platform: every worker of every task queue reserves here."""
    return f"passimpay-withdraw-gate:{platform_id}"


def next_slot(now: float, last_slot: float) -> float:
    """The start of the next slot: soon, but never closer than `SPACING` to the previous one."""
    return max(now + LEAD, last_slot + SPACING)


def shown(epoch: float) -> str:
    """An epoch second as UTC ISO time with milliseconds, for journals and logs."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


class WithdrawSlot(BaseModel):
    """The only moment one withdraw request may be sent: not before, and not after `send_by`."""

    not_before: float = Field(description="epoch seconds")
    send_by: float = Field(description="epoch seconds")


class Reservation(BaseModel):
    """One slot handed out, kept for operators."""

    order_id: str
    slot: WithdrawSlot


class GateCarry(BaseModel):
    """What a platform's gate remembers across continue-as-new: the last slot above all."""

    platform_id: int
    last_slot: float = 0.0
    reserved_total: int = 0
    recent: list[Reservation] = Field(default_factory=list)

    def reserve(self, order_id: str, now: float) -> WithdrawSlot:
        """Hand out the next slot and remember it."""
        start = next_slot(now, self.last_slot)
        self.last_slot = start
        self.reserved_total += 1
        slot = WithdrawSlot(not_before=start, send_by=start + WINDOW)
        self.recent.append(Reservation(order_id=order_id, slot=slot))
        del self.recent[:-RECENT_LIMIT]
        return slot
