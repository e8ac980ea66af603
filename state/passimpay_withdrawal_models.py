"""What callers send to and read from Passimpay payouts; crypto amounts are Decimal only."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from state.chain_canonical import canonical_address, chain_family
from state.decision import OperatorDecision
from state.notifications import NotifyUrl
from state.numbers import Count, Seconds
from state.passimpay_models import PASSIMPAY_ORDER_ID, CurrencyFacts
from state.passimpay_withdrawal import WithdrawalLifecycle, WithdrawalStatus
from state.polling import MAX_POLL_SECONDS, MAX_WAIT_SECONDS, MIN_POLL_SECONDS, PollTiming
from state.tracked import LifecycleState


class WithdrawalTiming(PollTiming):
    """`/v2/withdrawstatus` polling: every few seconds right after the send, slower after."""

    active_poll_seconds: Seconds = Field(
        default=3.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="poll interval right after a send",
    )
    active_window_seconds: Seconds = Field(
        default=600.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="how long after a send or callback polling stays fast",
    )
    idle_poll_seconds: Seconds = Field(
        default=60.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="poll interval after the active window",
    )
    unknown_poll_max_seconds: Seconds = Field(
        default=1800.0,
        ge=1,
        le=MAX_POLL_SECONDS,
        description="while the outcome is unknown, status checks slow down to this interval",
    )
    lookup_window_seconds: Seconds = Field(
        default=600.0,
        ge=1,
        le=MAX_WAIT_SECONDS,
        description="after a send that may have arrived, how long `/v2/withdrawstatus` is asked "
        "before an operator must decide (covers a status API that lags)",
    )


class WithdrawPolicy(BaseModel):
    """What the platform is known to do, from the worker's settings."""

    unique_order_id: bool = Field(
        default=False,
        description="the platform refuses a second withdraw with the same orderId, so a send "
        "that may have arrived can be repeated once the status API does not know it",
    )


DEFAULT_MAX_USD = Decimal("1000")


class WithdrawLimits(BaseModel):
    """How much one payout may be, from the worker's settings (never carried in workflows).

    `max_by_currency` maps a paymentId (`"60"`) or a ticker (`"ETH"`, any case) to the largest
    payout in that currency's own units; a paymentId wins over a ticker. A currency not listed
    may pay out at most `max_usd` at the currency list's `rateUsd`; `max_usd` 0 means no
    payout at all in a currency without a configured maximum.
    """

    max_by_currency: dict[str, Decimal] = Field(default_factory=dict)
    max_usd: Decimal = Field(default=DEFAULT_MAX_USD, ge=0)

    def maximum(self, payment_id: int, ticker: str) -> Decimal | None:
        """The configured maximum for this currency (None: the USD default applies)."""
        by_key = {key.strip().upper(): value for key, value in self.max_by_currency.items()}
        return by_key.get(str(payment_id), by_key.get(ticker.strip().upper()))


class WithdrawalFacts(BaseModel):
    """What validation learned: the currency, and the platform's policy."""

    currency: CurrencyFacts
    policy: WithdrawPolicy = Field(default_factory=WithdrawPolicy)


class WithdrawalRequest(BaseModel):
    """Pay `amount` of one currency (crypto units) to `address_to`, once, under our `order_id`."""

    model_config = ConfigDict(
        json_schema_mode_override="validation",
        json_schema_extra={
            "examples": [
                {
                    "order_id": "wd-1001",
                    "payment_id": 70,
                    "address_to": "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8",
                    "amount": "12.5",
                }
            ]
        },
    )
    """One schema for requests and the views that show them (amounts as sent or as text)."""

    order_id: str = Field(
        pattern=PASSIMPAY_ORDER_ID, description="the merchant's order: one payout per order, ever"
    )
    payment_id: Count = Field(gt=0, description="Passimpay's currency id")
    address_to: str = Field(
        min_length=1, max_length=200, description="`address:tag` on tag networks (XRP, TON)"
    )
    amount: Decimal = Field(gt=0, max_digits=40, description="in the currency itself, not fiat")
    check_balance: bool = Field(
        default=True,
        description="refuse when the platform balance (in USD) is short or cannot be read",
    )
    timing: WithdrawalTiming = Field(
        default_factory=WithdrawalTiming, description="how often Passimpay is asked"
    )
    late_callback_window_seconds: Seconds = Field(
        default=900.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="stay open this long after the end for late callbacks",
    )
    notify_url: NotifyUrl = None

    def differs_from(
        self,
        payment_id: int | None,
        address_to: str | None,
        amount: Decimal | None,
        *,
        chain: str | None = None,
        destination_tag: str | None = None,
        canonical: bool = False,
    ) -> str | None:
        """What differs between this payout and one the provider reports (None: the same).

        `canonical` compares addresses in `chain`'s one spelling (the tag appended or apart,
        EVM hex in any case) instead of as text, so another spelling is not another payout."""
        if payment_id is not None and payment_id != self.payment_id:
            return f"paymentId {payment_id} instead of {self.payment_id}"
        if canonical and address_to is not None:
            theirs = canonical_address(chain, address_to, destination_tag)
            if theirs != canonical_address(chain, self.address_to):
                return f"addressTo {theirs!r} instead of {self.address_to!r} (on {chain})"
        elif address_to is not None and address_to != self.address_to:
            return f"addressTo {address_to!r} instead of {self.address_to!r}"
        if amount is not None and amount != self.amount:
            return f"amount {amount} instead of {self.amount}"
        return None

    def summary(self) -> dict[str, object]:
        """The memo operators see."""
        return {
            "order_id": self.order_id,
            "payment_id": self.payment_id,
            "amount": str(self.amount),
        }


class WithdrawalResolution(OperatorDecision):
    """An operator's answer to a payout whose outcome nobody could learn."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"decision": "paid", "note": "the dashboard shows it paid"}]
        }
    )

    decision: Literal["paid", "failed", "retry"] = Field(
        description="paid/failed: what the provider's dashboard shows; retry: send again"
    )
    note: str = Field(min_length=1, max_length=500, description="why, for the journal")


class WithdrawCallbackRecord(BaseModel):
    """A verified withdraw callback as received: a hint, never the truth."""

    received_at: datetime = Field(description="when it arrived")
    approve: int = Field(description="0 pending, 1 paid, 2 failed, as claimed")
    transaction_id: str | None = Field(default=None, description="Passimpay's transaction id")
    txhash: str | None = Field(default=None, description="the chain transaction")
    late: bool = Field(default=False, description="arrived after the payout ended")


class WithdrawalState(LifecycleState):
    """Everything one payout knows: the query returns it, continue-as-new carries it whole."""

    request: WithdrawalRequest = Field(description="the payout as requested")
    lifecycle: WithdrawalLifecycle = Field(
        default_factory=WithdrawalLifecycle, description="the payout's state and journal"
    )
    currency: str | None = Field(default=None, description="ticker and network, once validated")
    policy: WithdrawPolicy = Field(
        default_factory=WithdrawPolicy, description="what the platform is known to do"
    )
    transaction_id: str | None = Field(
        default=None, description="Passimpay's transaction id, once sent"
    )
    provider_approve: int | None = Field(default=None, description="0 pending, 1 paid, 2 failed")
    txhash: str | None = Field(default=None, description="the chain transaction")
    confirmations: int | None = Field(default=None, description="network confirmations so far")
    amount_debited: Decimal | None = Field(
        default=None, description="what the platform balance was charged"
    )
    fee_network: Decimal | None = Field(default=None, description="the network's fee")
    fee_service: Decimal | None = Field(default=None, description="Passimpay's fee")
    reason: str | None = Field(default=None, description="why it was rejected or failed")
    doubt: str | None = Field(default=None, description="why nobody can tell the outcome")
    contradiction: str | None = Field(default=None, description="the provider disagrees")
    trouble: str | None = Field(default=None, description="provider calls failing for long")
    trouble_since: datetime | None = Field(default=None, description="provider calls failing since")
    resolution: WithdrawalResolution | None = Field(
        default=None, description="the operator's decision, if one was needed"
    )
    retry_requested: WithdrawalResolution | None = Field(
        default=None,
        description="an operator's retry waiting for the fresh `/v2/withdrawstatus` read that "
        "decides it",
    )
    attempt: int = Field(default=0, description="send attempts queued at the gate")
    send_attempts: int = Field(default=0, description="withdraw requests that may have left")
    not_sent: int = Field(default=0, description="turns given up before anything was written")
    not_sent_streak: int = Field(
        default=0, description="turns in a row given up before anything was written"
    )
    ambiguous_rounds: int = Field(default=0, description="attempts without a definite outcome")
    maybe_sent: list[str] = Field(default_factory=list, description="sends that may have arrived")
    status_checks: int = Field(default=0, description="status checks Passimpay answered")
    status_failures: int = Field(default=0, description="status checks that failed")
    last_checked_at: datetime | None = Field(
        default=None, description="when a status check last answered"
    )
    unknown_polls: int = Field(default=0, description="status checks while the outcome is unknown")
    woke_at: datetime | None = Field(default=None, description="the last hint, for poll pacing")
    late_until: datetime | None = Field(default=None, description="open for late news until")
    callbacks: list[WithdrawCallbackRecord] = Field(
        default_factory=list, description="withdraw callbacks as received"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def needs_attention(self) -> bool:
        """Whether an operator should look: unknown outcome, contradiction or failing calls."""
        unknown = self.status == WithdrawalStatus.OUTCOME_UNKNOWN
        return unknown or self.contradiction is not None or self.trouble is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def attention_reason(self) -> str | None:
        """Why an operator must look: the provider disagrees, nobody can tell, or calls fail."""
        return self.contradiction or self.doubt or self.trouble

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unique_order_id(self) -> bool:
        """Whether the platform was known to refuse a reused orderId."""
        return self.policy.unique_order_id

    @property
    def chain(self) -> str | None:
        """The network (else the ticker) whose address spelling applies, from `currency`."""
        return currency_chain(self.currency)

    def evidence(self) -> str:
        """Why nobody can tell: what may have been sent and what the status API said."""
        return (
            f"{len(self.maybe_sent)} send(s) may have reached Passimpay "
            f"({'; '.join(self.maybe_sent[-3:])}); /v2/withdrawstatus did not find orderId "
            f"{self.order_id} within {self.request.timing.lookup_window_seconds:.0f} s "
            f"({self.status_checks} checks, {self.status_failures} failed)"
        )


def currency_label(ticker: str, network: str) -> str:
    """How a validated payout names its currency: `TICKER (NETWORK)`."""
    return f"{ticker} ({network})"


def currency_chain(label: str | None) -> str | None:
    """The network of a `currency_label`, or its ticker when the network is no known chain."""
    if not label or not label.endswith(")") or " (" not in label:
        return None
    ticker, _, network = label[:-1].partition(" (")
    return network if chain_family(network) is not None else ticker


WithdrawalView = WithdrawalState
"""What the query and the HTTP API return: the state itself."""
