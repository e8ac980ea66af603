"""Passimpay payout activities: validate before anything leaves, reserve a send slot, send once.

`withdraw` is the only code that sends `/v2/withdraw`. It sends inside its slot or not at all,
and it is never retried by Temporal: after any doubt the workflow asks `/v2/withdrawstatus`.
"""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.errors import provider_call
from providers.errors import InvalidInput, Refused
from providers.passimpay import (
    Currency,
    PassimpayClient,
    WithdrawRequest,
    WithdrawResult,
    validate_withdraw_address,
)
from state.passimpay_models import CurrencyFacts
from state.passimpay_withdrawal_models import WithdrawalRequest
from state.withdraw_gate import (
    GATE_WORKFLOW,
    RESERVE_UPDATE,
    GateCarry,
    WithdrawSlot,
    gate_workflow_id,
)

WITHDRAWAL_EXISTS = "WithdrawalExists"
"""The provider already has a payout under this orderId: an earlier send reached it."""

_DUPLICATE = re.compile(r"already exist|duplicate", re.IGNORECASE)


class WithdrawAttempt(BaseModel):
    """One send of a payout, allowed only inside `slot`."""

    request: WithdrawRequest
    slot: WithdrawSlot


class WithdrawOutcome(BaseModel):
    """Sent (with the provider's reply), or not sent because the slot had passed."""

    sent: bool
    result: WithdrawResult | None = None
    late_by: float | None = None


def check_payout(
    request: WithdrawalRequest, currency: Currency, balance: Decimal | None = None
) -> None:
    """Raise InvalidInput unless the payout fits the currency (and the balance, when given)."""
    validate_withdraw_address(request.address_to, currency)
    if request.amount < currency.min_deposit:
        raise InvalidInput(
            f"amount {request.amount} {currency.currency} is under the currency's minimum "
            f"{currency.min_deposit}"
        )
    if balance is not None and request.amount * currency.rate_usd > balance:
        raise InvalidInput(
            f"amount {request.amount} {currency.currency} (about "
            f"{(request.amount * currency.rate_usd).quantize(Decimal('0.01'))} USD) exceeds the "
            f"platform balance {balance}"
        )


class PassimpayWithdrawalActivities:
    """Payout activities bound to one platform's client and to Temporal (for the slot gate)."""

    def __init__(
        self, passimpay: PassimpayClient, temporal: Client, *, gate_task_queue: str
    ) -> None:
        self._client = passimpay
        self._temporal = temporal
        self._gate_task_queue = gate_task_queue
        # The client has no public accessor for the platform it signs for.
        self._platform_id: int = passimpay.platform_id

    @activity.defn(name="passimpay.validate_withdrawal")
    async def validate_withdrawal(self, request: WithdrawalRequest) -> CurrencyFacts:
        """Refuse a payout that cannot succeed before anything is sent (InvalidInput)."""
        with provider_call():
            currency = await self._client.currency(request.payment_id)
            balance = (await self._client.balance()).balance if request.check_balance else None
            check_payout(request, currency, balance)
        return CurrencyFacts(
            payment_id=currency.id,
            ticker=currency.currency,
            network=currency.platform,
            tag=currency.tag,
        )

    @activity.defn(name="passimpay.reserve_withdraw_slot")
    async def reserve_withdraw_slot(self, order_id: str) -> WithdrawSlot:
        """The next free send slot of this platform, from its gate workflow (started if needed)."""
        start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
            GATE_WORKFLOW,
            GateCarry(platform_id=self._platform_id),
            id=gate_workflow_id(self._platform_id),
            task_queue=self._gate_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            result_type=type(None),
        )
        slot: WithdrawSlot = await self._temporal.execute_update_with_start_workflow(
            RESERVE_UPDATE, order_id, start_workflow_operation=start, result_type=WithdrawSlot
        )
        return slot

    @activity.defn(name="passimpay.withdraw")
    async def withdraw(self, attempt: WithdrawAttempt) -> WithdrawOutcome:
        """Send the payout once inside its slot; a slot already passed sends nothing."""
        with provider_call():
            await self._client.currency(attempt.request.payment_id)  # warm: nothing slow at send
            wait = attempt.slot.not_before - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            late_by = time.time() - attempt.slot.send_by
            if late_by > 0:
                activity.logger.warning("withdraw slot missed by %.3f s: not sent", late_by)
                return WithdrawOutcome(sent=False, late_by=late_by)
            try:
                result = await self._client.withdraw(attempt.request)
            except Refused as refusal:
                if _DUPLICATE.search(refusal.message):
                    raise ApplicationError(
                        refusal.message, type=WITHDRAWAL_EXISTS, non_retryable=True
                    ) from None
                raise
        return WithdrawOutcome(sent=True, result=result)
