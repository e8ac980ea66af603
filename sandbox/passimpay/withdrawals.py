"""Withdrawals: the 1-per-second-per-platform limit (break it and the platform is blocked),
what the provider does with `orderId`, and settlement to success or failure.

No provider page says whether `/v2/withdraw` deduplicates `orderId`, so the book answers each
way (`order_ids`): `unique` refuses a reused orderId, `duplicate` pays it again, `ignore` pays
and keeps no orderId (`/v2/withdrawstatus` by orderId then never finds it). Error wording is
unpublished too: `opaque_errors` replaces every message with one that names nothing. Nor is the
spelling of `addressTo` in `/v2/withdrawstatus` (`address_spelling`): as sent, the tag written
apart in `destinationTag` instead of appended, or the address lower- or upper-cased."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, get_args

from sandbox.passimpay import addresses
from sandbox.passimpay.currencies import SimCurrency
from sandbox.passimpay.store import SERVICE_FEE, WITHDRAWAL_NOT_FOUND, Refusal, SimWithdrawal
from sandbox.statedb import StateDB, Table

BLOCKED = "Too many requests. Platform blocked"
DUPLICATE_ORDER_ID = "Withdrawal with this orderId already exists"
OPAQUE_ERROR = "Request failed"
OrderIdMode = Literal["unique", "duplicate", "ignore"]
AddressSpelling = Literal["as_sent", "tag_apart", "lower", "upper"]


class WithdrawLimiter:
    """Counts every withdraw request; one sooner than `min_interval` after the previous request
    of the same platform is a violation and blocks that platform until unblocked."""

    def __init__(self, min_interval: float) -> None:
        self.min_interval = min_interval
        self.calls: list[float] = []
        self.violations = 0
        self.blocked: set[int] = set()
        self._last: dict[int, float] = {}

    def admit(self, platform_id: int | None, now: float) -> bool:
        """Record one request; False when the platform is (now) blocked."""
        self.calls.append(now)
        if platform_id is None:
            return True
        last = self._last.get(platform_id)
        self._last[platform_id] = now
        if last is not None and now - last < self.min_interval:
            self.violations += 1
            self.blocked.add(platform_id)
        return platform_id not in self.blocked

    def unblock(self, platform_id: int | None = None) -> None:
        """Lift the block of one platform, or of all."""
        if platform_id is None:
            self.blocked.clear()
        else:
            self.blocked.discard(platform_id)

    def min_gap(self) -> float | None:
        """The shortest time between two consecutive withdraw requests seen."""
        gaps = [later - earlier for earlier, later in zip(self.calls, self.calls[1:], strict=False)]
        return min(gaps) if gaps else None


@dataclass(frozen=True)
class _Row:
    """A stored withdrawal and whether `/v2/withdrawstatus` finds it by orderId."""

    withdrawal: SimWithdrawal
    by_order: bool


class WithdrawalBook:
    """Withdrawals by orderId and transactionId; `payouts` counts commits per orderId."""

    def __init__(self, db: StateDB | None = None) -> None:
        self.by_order: dict[str, SimWithdrawal] = {}
        self.by_transaction: dict[str, SimWithdrawal] = {}
        self.payouts: Counter[str] = Counter()
        self.order_ids: OrderIdMode = "unique"
        self.opaque_errors = False
        self.address_spelling: AddressSpelling = "as_sent"
        self._rows = Table(db or StateDB.memory(), "withdrawal", _Row)
        for _, row in self._rows.load():
            self._index(row.withdrawal, by_order=row.by_order)

    def behave(
        self,
        order_ids: OrderIdMode = "unique",
        *,
        opaque_errors: bool = False,
        address_spelling: AddressSpelling = "as_sent",
    ) -> None:
        """Choose an answer to the provider's open questions (defaults: our documented ones)."""
        if order_ids not in get_args(OrderIdMode):
            raise ValueError(f"order_ids {order_ids!r} is not one of {get_args(OrderIdMode)}")
        if address_spelling not in get_args(AddressSpelling):
            raise ValueError(
                f"address_spelling {address_spelling!r} is not one of {get_args(AddressSpelling)}"
            )
        self.order_ids, self.opaque_errors = order_ids, opaque_errors
        self.address_spelling = address_spelling

    def spelled(self, withdrawal: SimWithdrawal, fields: dict[str, Any]) -> dict[str, Any]:
        """A `/v2/withdrawstatus` reply with `addressTo` written as `address_spelling` says."""
        address_to = withdrawal.address_to
        mode = self.address_spelling
        if mode == "tag_apart" and withdrawal.currency.tag:
            address, _, tag = address_to.rpartition(":")
            return {**fields, "addressTo": address, "destinationTag": tag}
        if mode in ("lower", "upper"):
            spelled = address_to.lower() if mode == "lower" else address_to.upper()
            return {**fields, "addressTo": spelled}
        return fields

    def refusal(self, message: str) -> Refusal:
        """A refusal worded as configured."""
        return Refusal(OPAQUE_ERROR if self.opaque_errors else message)

    def create(
        self,
        platform_id: int,
        order_id: str,
        currency: SimCurrency,
        address_to: str,
        amount: Decimal,
        now: float,
    ) -> SimWithdrawal:
        """Commit one payout, pending; a reused orderId is refused (or paid again, as set)."""
        if order_id in self.by_order and self.order_ids == "unique":
            raise self.refusal(DUPLICATE_ORDER_ID)
        fee_service = (amount * SERVICE_FEE).quantize(currency.quantum, ROUND_HALF_UP)
        withdrawal = SimWithdrawal(
            platform_id,
            order_id,
            str(uuid.uuid4()),
            currency,
            address_to,
            amount,
            now,
            fee_network=currency.withdraw_fee,
            fee_service=fee_service,
        )
        self._index(withdrawal, by_order=self.order_ids != "ignore")
        self.save(withdrawal)
        return withdrawal

    def save(self, withdrawal: SimWithdrawal) -> None:
        """Write a new or settled withdrawal through."""
        indexed = self.by_order.get(withdrawal.order_id) is withdrawal
        self._rows.put(withdrawal.transaction_id, _Row(withdrawal, indexed))

    def pending(self) -> list[SimWithdrawal]:
        """Withdrawals not settled yet, oldest first."""
        return [w for w in self.by_transaction.values() if w.settled_at is None]

    def _index(self, withdrawal: SimWithdrawal, *, by_order: bool) -> None:
        if by_order:
            self.by_order[withdrawal.order_id] = withdrawal
        self.by_transaction[withdrawal.transaction_id] = withdrawal
        self.payouts[withdrawal.order_id] += 1

    def find(
        self, platform_id: int, *, order_id: str | None, transaction_id: str | None
    ) -> SimWithdrawal:
        """One platform's withdrawal by either id, or the not-found refusal."""
        if order_id is not None:
            withdrawal = self.by_order.get(order_id)
        else:
            withdrawal = self.by_transaction.get(transaction_id or "")
        if withdrawal is None or withdrawal.platform_id != platform_id:
            raise self.refusal(WITHDRAWAL_NOT_FOUND)
        return withdrawal


def settle(
    withdrawal: SimWithdrawal, approve: Literal[1, 2], reason: str | None, now: float
) -> None:
    """Finish a pending withdrawal; a settled one stays as it is (terminal states are sticky)."""
    if withdrawal.settled_at is not None:
        raise ValueError(f"withdrawal {withdrawal.order_id!r} is already settled")
    withdrawal.approve = approve
    withdrawal.settled_at = now
    if approve == 1:
        withdrawal.txhash = addresses.txhash(withdrawal.currency.family)
    else:
        withdrawal.reason = reason or "Withdrawal rejected"
