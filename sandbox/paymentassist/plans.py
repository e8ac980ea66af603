"""The sandbox account's finance plans, their amount limits and repayment quotes."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


@dataclass(frozen=True)
class Plan:
    """One plan as `/account` lists it; `lengths` are the terms `/plan` accepts."""

    plan_id: int
    name: str
    instalments: int
    deposit: bool
    apr: Decimal
    min_amount: int | None
    max_amount: int | None
    commission_rate: str
    commission_fixed_fee: int | None
    lengths: tuple[int, ...]

    def allows(self, amount: int) -> bool:
        """Whether `amount` pence lies within this plan's limits."""
        too_low = self.min_amount is not None and amount < self.min_amount
        too_high = self.max_amount is not None and amount > self.max_amount
        return not (too_low or too_high)

    def listing(self) -> dict[str, Any]:
        """The plan as `/account` shows it."""
        return {
            "plan_id": self.plan_id,
            "name": self.name,
            "instalments": self.instalments,
            "deposit": self.deposit,
            "apr": str(self.apr),
            "frequency": "monthly",
            "min_amount": self.min_amount,
            "max_amount": self.max_amount,
            "commission_rate": self.commission_rate,
            "commission_fixed_fee": self.commission_fixed_fee,
        }


PLANS: tuple[Plan, ...] = (
    Plan(1, "4-Payment", 4, True, Decimal("0"), 5_000, 500_000, "3.50", None, (4,)),
    Plan(2, "3-Payment", 3, True, Decimal("0"), 5_000, 300_000, "4.00", None, (3,)),
    Plan(3, "Interest Bearing", 12, False, Decimal("19.9"), 50_000, 1_000_000, "0", 5_000,
         (12, 24, 36)),
)  # fmt: skip
DEFAULT_PLAN = PLANS[0]


def find_plan(plan_id: int | None) -> Plan | None:
    """The plan with this id, the account default when None, or None when unknown."""
    if plan_id is None:
        return DEFAULT_PLAN
    return next((plan for plan in PLANS if plan.plan_id == plan_id), None)


def _add_months(day: dt.date, months: int) -> dt.date:
    """Same day of a later month, clamped to that month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def quote(plan: Plan, amount: int, length: int, today: dt.date) -> dict[str, Any]:
    """Flat-rate interest over the term, split into equal monthly payments from today."""
    interest = int(
        (Decimal(amount) * plan.apr / 100 * length / 12).quantize(Decimal(1), ROUND_HALF_UP)
    )
    repayable = amount + interest
    share, remainder = divmod(repayable, length)
    schedule = [
        {
            "date": _add_months(today, index).isoformat(),
            "amount": share + (remainder if index == 0 else 0),
        }
        for index in range(length)
    ]
    return {
        "plan": plan.name,
        "amount": amount,
        "interest": interest,
        "repayable": repayable,
        "schedule": schedule,
    }
