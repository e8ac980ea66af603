"""Passimpay payout activities: validate before anything leaves, take a turn at the platform's
gate, send once, and look a payout up.

`withdraw` is the only code that sends `/v2/withdraw`. It holds the platform's lease while it
sends, writes the request only after its grant and its own wait, and never retries: after any
doubt the workflow asks `/v2/withdrawstatus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.decisions import DecisionKeys
from activities.errors import provider_call
from activities.withdraw_metrics import WITHDRAW_GAP_SECONDS, WITHDRAW_MISSED_SLOTS
from providers.errors import InvalidInput, Refused, Transient
from providers.passimpay import (
    Currency,
    PassimpayClient,
    WithdrawRequest,
    WithdrawResult,
    WithdrawStatus,
    validate_withdraw_address,
)
from providers.passimpay.client import PROVIDER, WITHDRAW_PATH
from providers.passimpay.withdraw_sender import NoReply, NotSent, OpenRequest
from providers.telemetry import observed_call
from state.passimpay_models import CurrencyFacts
from state.passimpay_withdrawal_models import (
    WithdrawalFacts,
    WithdrawalRequest,
    WithdrawLimits,
    WithdrawPolicy,
)
from state.withdraw_gate import (
    CONFIRM_UPDATE,
    ENQUEUE_UPDATE,
    GATE_WORKFLOW,
    LEASE_LOCAL,
    RELEASE_SIGNAL,
    REPLY_TIMEOUT,
    SETTLE_UPDATE,
    Fate,
    GateState,
    Grant,
    LeaseName,
    LeaseRef,
    Release,
    Ticket,
    gate_workflow_id,
    lease_ref,
)

CONNECT_TIMEOUT = 5.0
CONNECT_AHEAD = 0.5
"""Open the connection this long before the wait ends, so the write is all that is left."""
ARM_AHEAD = 0.25
"""Arm the lease this long before the wait ends, so its round trip costs no throughput."""
RETRY_PAUSE = 0.05


class WithdrawAttempt(BaseModel):
    """One send of a payout under gate lease `lease_id` of gate run `epoch`."""

    request: WithdrawRequest
    lease_id: int
    epoch: str = ""

    @property
    def lease(self) -> LeaseRef:
        return LeaseRef(lease_id=self.lease_id, epoch=self.epoch)


class WithdrawOutcome(BaseModel):
    """What one send did: sent (with the reply), refused by the provider, maybe sent (no usable
    reply after the bytes left), or not sent (nothing left this process)."""

    kind: Literal["sent", "refused", "maybe_sent", "not_sent"]
    result: WithdrawResult | None = None
    reason: str | None = None


class WithdrawLookup(BaseModel):
    """Ask `/v2/withdrawstatus` by the provider's transactionId when known, else our orderId."""

    order_id: str
    transaction_id: str | None = None


def _usd(value: Decimal) -> str:
    """A USD figure for a message, in cents unless it is too large to print that way."""
    return f"{value:.2f}" if value.adjusted() < 20 else f"{value:.3E}"


def check_payout(
    request: WithdrawalRequest,
    currency: Currency,
    balance: Decimal | None = None,
    limits: WithdrawLimits | None = None,
) -> None:
    """Raise InvalidInput unless the payout fits the currency, the balance (when the request
    checks it) and the maximum payout for the currency."""
    validate_withdraw_address(request.address_to, currency)
    ticker, amount = currency.currency, request.amount
    if amount < currency.min_deposit:
        raise InvalidInput(
            f"amount {amount} {ticker} is under the currency's minimum {currency.min_deposit}"
        )
    usd = amount * currency.rate_usd if currency.rate_usd > 0 else None
    if request.check_balance:
        if balance is None:
            raise InvalidInput("the platform balance could not be read (check_balance is on)")
        if usd is None:
            raise InvalidInput(f"{ticker} has no USD rate: the balance cannot be checked")
        if usd > balance:
            raise InvalidInput(
                f"amount {amount} {ticker} (about {_usd(usd)} USD) exceeds "
                f"the platform balance {balance}"
            )
    limits = limits or WithdrawLimits()
    maximum = limits.maximum(currency.id, ticker)
    if maximum is not None:
        if amount > maximum:
            raise InvalidInput(
                f"amount {amount} {ticker} is over the maximum payout of {maximum} {ticker} "
                "(PASSIMPAY_WITHDRAW_MAX)"
            )
        return
    if limits.max_usd <= 0:
        raise InvalidInput(
            f"no maximum payout is configured for {ticker} (paymentId {currency.id}): "
            "set one in PASSIMPAY_WITHDRAW_MAX"
        )
    if usd is None:
        raise InvalidInput(
            f"{ticker} has no USD rate and no maximum payout in PASSIMPAY_WITHDRAW_MAX"
        )
    if usd > limits.max_usd:
        raise InvalidInput(
            f"amount {amount} {ticker} (about {_usd(usd)} USD) is over the "
            f"maximum payout of {limits.max_usd} USD for a currency without its own maximum "
            "(PASSIMPAY_WITHDRAW_MAX_USD, PASSIMPAY_WITHDRAW_MAX)"
        )


class PassimpayWithdrawalActivities:
    """Payout activities bound to one platform's client and to Temporal (for the gate)."""

    def __init__(
        self,
        passimpay: PassimpayClient,
        temporal: Client,
        *,
        gate_task_queue: str,
        proofs: DecisionKeys,
        policy: WithdrawPolicy | None = None,
        limits: WithdrawLimits | None = None,
    ) -> None:
        """`proofs` proves each lease release to the gate (it refuses unproven ones)."""
        self._client = passimpay
        self._proofs = proofs
        self._limits = limits or WithdrawLimits()
        self._temporal = temporal
        self._gate_task_queue = gate_task_queue
        self._policy = policy or WithdrawPolicy()
        self._platform_id: int = passimpay.platform_id

    def _gate(self) -> WorkflowHandle[Any, Any]:
        return self._temporal.get_workflow_handle(gate_workflow_id(self._platform_id))

    @activity.defn(name="passimpay.validate_withdrawal")
    async def validate_withdrawal(self, request: WithdrawalRequest) -> WithdrawalFacts:
        """Refuse a payout that cannot succeed before anything is sent (InvalidInput)."""
        with provider_call():
            currency = await self._client.currency(request.payment_id)
            balance = (await self._client.balance()).balance if request.check_balance else None
            check_payout(request, currency, balance, self._limits)
        facts = CurrencyFacts(
            payment_id=currency.id,
            ticker=currency.currency,
            network=currency.platform,
            tag=currency.tag,
        )
        return WithdrawalFacts(currency=facts, policy=self._policy)

    @activity.defn(name="passimpay.enqueue_withdraw")
    async def enqueue_withdraw(self, ticket: Ticket) -> int:
        """Queue a send attempt at the platform's gate (starting the gate if needed)."""
        start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
            GATE_WORKFLOW,
            GateState(platform_id=self._platform_id),
            id=gate_workflow_id(self._platform_id),
            task_queue=self._gate_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            result_type=type(None),
        )
        ahead: int = await self._temporal.execute_update_with_start_workflow(
            ENQUEUE_UPDATE, ticket, start_workflow_operation=start, result_type=int
        )
        return ahead

    @activity.defn(name="passimpay.settle_withdraw_lease")
    async def settle_withdraw_lease(self, lease: LeaseName) -> Fate:
        """After a send activity failed: whether its lease may have sent anything."""
        named = lease_ref(lease).message()
        fate: Fate = await self._gate().execute_update(SETTLE_UPDATE, named, result_type=Fate)
        return fate

    @activity.defn(name="passimpay.withdraw_lookup")
    async def withdraw_lookup(self, lookup: WithdrawLookup) -> WithdrawStatus | None:
        """A payout's state from the provider; None while it does not know it.

        Any refusal counts as "not known (yet)": the wording of Passimpay's errors is not
        published, and nothing is decided from it beyond looking again.
        """
        with provider_call():
            try:
                if lookup.transaction_id:
                    return await self._client.withdraw_status(transaction_id=lookup.transaction_id)
                return await self._client.withdraw_status(order_id=lookup.order_id)
            except Refused:
                return None

    @activity.defn(name="passimpay.withdraw")
    async def withdraw(self, attempt: WithdrawAttempt) -> WithdrawOutcome:
        """Send the payout once under the gate's lease; never faster than the platform allows."""
        try:
            prepared = await self._client.prepare_withdraw(attempt.request)
        except InvalidInput as error:
            await self._release(attempt.lease, Fate.NOT_SENT)
            raise ApplicationError(str(error), type="InvalidInput", non_retryable=True) from None
        except Transient as error:
            await self._release(attempt.lease, Fate.NOT_SENT)
            return WithdrawOutcome(kind="not_sent", reason=str(error))
        try:
            grant = await self._confirm(attempt.lease)
        except BaseException:  # cancelled while waiting: give the turn back, nothing was sent
            await asyncio.shield(self._release(attempt.lease, Fate.NOT_SENT))
            raise
        if grant.answer != "granted":
            WITHDRAW_MISSED_SLOTS.labels("no_grant").inc()
            return WithdrawOutcome(kind="not_sent", reason=grant.reason or "no grant")
        learned = time.monotonic()  # the previous holder's end is recorded: causally before now
        fate = Fate.NOT_SENT
        connection: OpenRequest | None = None
        try:
            ready_at = learned + grant.wait_seconds
            await asyncio.sleep(max(0.0, ready_at - CONNECT_AHEAD - time.monotonic()))
            connection = await prepared.connect(CONNECT_TIMEOUT, self._client.tls)
            await asyncio.sleep(max(0.0, ready_at - ARM_AHEAD - time.monotonic()))
            armed_at = time.monotonic()
            armed = await self._confirm(attempt.lease)  # arm: from here a write may happen
            if armed.answer != "granted":
                WITHDRAW_MISSED_SLOTS.labels("lease_lost").inc()
                return WithdrawOutcome(kind="not_sent", reason=armed.reason or "lease lost")
            await asyncio.sleep(max(0.0, ready_at - time.monotonic()))
            fate = Fate.NO_REPLY
            with observed_call(PROVIDER, WITHDRAW_PATH) as span:
                connection.write_before(armed_at + LEASE_LOCAL)  # the last check, then the write
                WITHDRAW_GAP_SECONDS.observe(time.monotonic() - learned)
                status_code, content = await connection.reply(REPLY_TIMEOUT)
                span.set_attribute("http.response.status_code", status_code)
            fate = Fate.REPLIED
        except NotSent as error:
            fate = Fate.NOT_SENT
            WITHDRAW_MISSED_SLOTS.labels("not_sent").inc()
            return WithdrawOutcome(kind="not_sent", reason=str(error))
        except NoReply as error:
            return WithdrawOutcome(kind="maybe_sent", reason=f"/v2/withdraw: {error}")
        finally:
            if connection is not None:
                await connection.aclose()
            if fate is Fate.NO_REPLY and connection is not None and not connection.written:
                fate = Fate.NOT_SENT
            await asyncio.shield(self._release(attempt.lease, fate))
        return self._read_reply(status_code, content)

    def _read_reply(self, status_code: int, content: bytes) -> WithdrawOutcome:
        try:
            result = self._client.withdraw_reply(status_code, content)
        except Refused as refusal:
            return WithdrawOutcome(kind="refused", reason=refusal.message)
        except Transient as error:
            return WithdrawOutcome(kind="maybe_sent", reason=str(error))
        return WithdrawOutcome(kind="sent", result=result)

    async def _confirm(self, lease: LeaseRef) -> Grant:
        """The gate's grant for this lease (asked again while the gate continues as new)."""
        while True:
            grant: Grant = await self._gate().execute_update(
                CONFIRM_UPDATE, lease.message(), result_type=Grant
            )
            if grant.answer != "retry":
                return grant
            await asyncio.sleep(RETRY_PAUSE)

    async def _release(self, lease: LeaseRef, fate: Fate) -> None:
        """Report the lease's end; if this fails the gate's timer ends it (a slower, safe path)."""
        release = self._proofs.prove(
            gate_workflow_id(self._platform_id),
            Release(lease_id=lease.lease_id, epoch=lease.epoch, fate=fate),
        )
        with contextlib.suppress(Exception):
            await self._gate().signal(RELEASE_SIGNAL, release)
