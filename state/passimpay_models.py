"""What callers send to and read from Passimpay invoices and addresses; Decimal amounts only."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from state.decision import OperatorDecision
from state.deposit_ledger import DepositEvent, DepositLedger, LedgerEntry
from state.notifications import NotifyUrl, Outbox
from state.numbers import NOT_A_BOOLEAN, Count, Seconds
from state.passimpay_address import AddressLifecycle
from state.passimpay_invoice import InvoiceLifecycle
from state.polling import MAX_POLL_SECONDS, MAX_WAIT_SECONDS, MIN_POLL_SECONDS, PollTiming
from state.tracked import TrackedState

PASSIMPAY_ORDER_ID = r"^[A-Za-z0-9+/=\-:.,_]{1,64}$"
UTXO_TICKERS = frozenset({"BTC", "LTC", "DASH", "DOGE", "BCH"})


def _two_decimals(value: Decimal) -> Decimal:
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("invoice amounts have at most two decimals")
    return value.quantize(Decimal("0.01"))


InvoiceAmount = Annotated[Decimal, Field(gt=0, max_digits=14), AfterValidator(_two_decimals)]


class CurrencyFacts(BaseModel):
    """What a workflow needs to know of one currency."""

    payment_id: int
    ticker: str
    network: str
    tag: bool = False

    @property
    def utxo(self) -> bool:
        return self.ticker.upper() in UTXO_TICKERS


class InvoiceTiming(PollTiming):
    """Invoice polling: fast right after the start or a callback, slower after."""

    active_poll_seconds: Seconds = Field(
        default=15.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="poll interval while something is happening",
    )
    active_window_seconds: Seconds = Field(
        default=600.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="how long after a start or callback polling stays fast",
    )
    idle_poll_seconds: Seconds = Field(
        default=120.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="poll interval after the active window",
    )
    attention_after_seconds: Seconds = Field(
        default=300.0,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="status checks failing this long raise NeedsAttention",
    )


class AddressTiming(BaseModel):
    """How an address confirms its deposits with the provider."""

    confirm_poll_seconds: Seconds = Field(
        default=30.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="status polling while a deposit is unsettled",
    )
    confirm_deadline_seconds: Seconds = Field(
        default=3600.0,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="a deposit still unconfirmed this long after its first callback is flagged",
    )
    attention_after_seconds: Seconds = Field(
        default=300.0,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="status checks failing this long raise NeedsAttention",
    )


class InvoiceRequest(BaseModel):
    """A hosted invoice for a fixed amount; the policy decides what a partial payment becomes."""

    model_config = ConfigDict(
        json_schema_mode_override="validation",
        json_schema_extra={
            "examples": [{"order_id": "inv-1001", "amount": "100.00", "symbol": "USD"}]
        },
    )
    """One schema for requests and the views that show them (amounts as sent or as text)."""

    order_id: str = Field(
        pattern=PASSIMPAY_ORDER_ID, description="the merchant's order: one invoice per order, ever"
    )
    amount: InvoiceAmount = Field(description="in `symbol`, two decimals at most")
    symbol: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="the fiat currency of `amount`; USD when absent",
    )
    currencies: list[Count] | None = Field(
        default=None, description="paymentIds the payer may choose from; all when absent"
    )
    type: Annotated[Literal[0, 1, 2], NOT_A_BOOLEAN] | None = Field(
        default=None, description="Passimpay's invoice type: 0 any currency, 1 one currency, 2 H2H"
    )
    first_name: str | None = Field(
        default=None, max_length=100, description="payer's first name, shown on the invoice page"
    )
    last_name: str | None = Field(
        default=None, max_length=100, description="payer's last name, shown on the invoice page"
    )
    email: str | None = Field(
        default=None, max_length=255, description="payer's email, for Passimpay's receipts"
    )
    phone_no: str | None = Field(default=None, max_length=40, description="payer's phone number")
    return_url: str | None = Field(
        default=None,
        max_length=1000,
        description="where the invoice page sends the payer afterwards",
    )
    expiry_seconds: Seconds = Field(
        default=3600.0, gt=0, le=MAX_WAIT_SECONDS, description="how long the invoice can be paid"
    )
    partial_policy: Literal["credit", "wait_for_top_up"] = Field(
        default="credit",
        description="an underpayment at expiry: credit what came, or wait for a top-up",
    )
    top_up_wait_seconds: Seconds = Field(
        default=86_400.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="with `wait_for_top_up`: how long a top-up may take",
    )
    late_deposit_window_seconds: Seconds = Field(
        default=86_400.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="how long after the end late deposits are still recorded",
    )
    timing: InvoiceTiming = Field(
        default_factory=InvoiceTiming, description="how often Passimpay is asked"
    )
    notify_url: NotifyUrl = None

    def summary(self) -> dict[str, object]:
        """The memo operators see: the order, not the payer."""
        return {
            "order_id": self.order_id,
            "amount": str(self.amount),
            "symbol": self.symbol or "USD",
            "partial_policy": self.partial_policy,
        }


class InvoiceOpened(BaseModel):
    """Where to send the payer."""

    order_id: str = Field(description="the merchant's order")
    url: str = Field(description="the hosted invoice page to send the payer to")
    status: str = Field(description="the invoice's status when it answered")


class OrderReading(BaseModel):
    """The latest `/v3/orderstatus` answer, as the provider gave it (a reading, not our verdict)."""

    status: str = Field(description="Passimpay's own status of the order")
    amount_paid: Decimal | None = Field(default=None, description="in `currency`, as reported")
    currency: str | None = Field(default=None, description="the currency paid in")
    amount_credited_merchant: Decimal | None = Field(
        default=None, description="credited to the merchant, as reported"
    )
    amount_credited_user: Decimal | None = Field(
        default=None, description="credited as the payer's payment, as reported"
    )
    fee_service: Decimal | None = Field(default=None, description="Passimpay's fee")
    fee_network: Decimal | None = Field(default=None, description="the network's fee")


class PassimpayState(TrackedState):
    """What an invoice and an address share: the order's deposits and the provider's reading."""

    callbacks_repeated: int = Field(
        default=0, description="callbacks that repeated one already recorded: counted, not kept"
    )
    ledger: DepositLedger = Field(
        default_factory=DepositLedger,
        description="callbacks received: hints, checked with the provider",
    )
    provider: OrderReading | None = Field(
        default=None, description="what Passimpay last reported for the order"
    )

    def money_moved(self) -> str:
        """The credited total: a deposit credited is a change the ledger records."""
        return str(self.ledger.credited_amount())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def deposits(self) -> list[LedgerEntry]:
        """The deposits kept in full: every unsettled one and the latest settled ones."""
        return list(self.ledger.entries.values())


class InvoiceState(PassimpayState):
    """Everything one invoice knows: the query returns it, continue-as-new carries it whole."""

    request: InvoiceRequest = Field(description="the invoice as requested")
    lifecycle: InvoiceLifecycle = Field(
        default_factory=InvoiceLifecycle, description="the invoice's state and journal"
    )
    url: str | None = Field(default=None, description="the hosted invoice page")
    opened_at: datetime = Field(description="when the invoice was created")
    last_activity_at: datetime = Field(description="the latest callback, for poll pacing")
    expired_partial_at: datetime | None = Field(
        default=None, description="when it expired partly paid"
    )
    ended_with: OrderReading | None = Field(
        default=None, description="the provider's reading when the invoice ended"
    )
    late_until: datetime | None = Field(default=None, description="open for late coins until")
    late_keys: list[str] = Field(
        default_factory=list, description="late deposits still to be judged"
    )
    callbacks_unmatched: int = Field(
        default=0, description="callbacks before the end that no rise of the provider's total used"
    )
    callbacks_owed: int = Field(
        default=0,
        description="rises of the provider's total before the end that no callback explained yet",
    )
    expiry_notice_taken: bool = Field(
        default=False, description="a callback was taken as the provider's expiry notice"
    )

    def count_callback(self) -> None:
        """A callback before the end explains a rise already read, or else the next one."""
        if self.callbacks_owed:
            self.callbacks_owed -= 1
        else:
            self.callbacks_unmatched += 1

    def count_rise(self) -> None:
        """A rise of the provider's total is explained by the callbacks no rise used yet (one
        rise may carry several deposits); with none, its callback is owed."""
        if self.callbacks_unmatched:
            self.callbacks_unmatched = 0
        else:
            self.callbacks_owed += 1

    @classmethod
    def start(cls, request: InvoiceRequest, now: datetime) -> InvoiceState:
        """A fresh invoice for `request`, opened `now`."""
        return cls(
            order_id=request.order_id,
            request=request,
            opened_at=now,
            last_activity_at=now,
            notifications=Outbox(url=request.notify_url),
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount(self) -> Decimal:
        """The invoice's amount, in `symbol`."""
        return self.request.amount

    @computed_field  # type: ignore[prop-decorator]
    @property
    def symbol(self) -> str:
        """The fiat currency of `amount`."""
        return self.request.symbol or "USD"

    @property
    def deadline(self) -> datetime:
        """When the provider expires the invoice."""
        return self.opened_at + timedelta(seconds=self.request.expiry_seconds)


class AddressRequest(BaseModel):
    """An H2H deposit address for one order and currency, open until the merchant closes it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"order_id": "dep-1001", "payment_id": 70}]}
    )

    order_id: str = Field(
        pattern=PASSIMPAY_ORDER_ID, description="the merchant's order: one address per order, ever"
    )
    payment_id: Count = Field(gt=0, description="Passimpay's currency id (network and token)")
    required_confirmations: Count | None = Field(
        default=None,
        ge=1,
        le=100,
        description="confirmations before a deposit counts; the network's default when absent",
    )
    continue_as_new_after: Count = Field(
        default=500, ge=1, description="deposits per workflow run before history is started afresh"
    )
    timing: AddressTiming = Field(
        default_factory=AddressTiming, description="how deposits are confirmed"
    )
    notify_url: NotifyUrl = None

    def summary(self) -> dict[str, object]:
        """The memo operators see."""
        return {"order_id": self.order_id, "payment_id": self.payment_id}


class AddressOpened(BaseModel):
    """What the payer needs: the address and, on tag networks, the destination tag."""

    order_id: str = Field(description="the merchant's order")
    payment_id: int = Field(description="Passimpay's currency id")
    address: str = Field(description="where the payer sends coins")
    destination_tag: str | None = Field(
        default=None, description="the tag or memo to send with them, on tag networks"
    )
    status: str = Field(description="the address's status when it answered")


class AddressState(PassimpayState):
    """Everything one address knows: the query returns it, continue-as-new carries it whole."""

    payment_id: int = Field(description="Passimpay's currency id")
    lifecycle: AddressLifecycle = Field(
        default_factory=AddressLifecycle, description="the address's state and journal"
    )
    address: str | None = Field(default=None, description="the deposit address, once assigned")
    destination_tag: str | None = Field(
        default=None, description="the tag or memo, on tag networks"
    )
    required_confirmations: int = Field(
        default=1, description="confirmations before a deposit counts"
    )
    ticker: str | None = Field(default=None, description="the currency's ticker")

    @classmethod
    def start(cls, request: AddressRequest) -> AddressState:
        """A fresh address for `request`, before the provider assigned one."""
        return cls(
            order_id=request.order_id,
            payment_id=request.payment_id,
            notifications=Outbox(url=request.notify_url),
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def credited_total(self) -> Decimal:
        """What was credited in the address's own currency."""
        return self.ledger.credited_amount(self.payment_id)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def deposits_settled(self) -> int:
        """Deposits credited or rejected, archived ones included."""
        return len(self.ledger.archived) + sum(e.final for e in self.ledger.entries.values())


class AddressAssignment(BaseModel):
    """The address (and tag) an address workflow was given: what its deposits must be sent to."""

    payment_id: int
    address: str | None = None
    destination_tag: str | None = None


def _same_address(ours: str, theirs: str) -> bool:
    ours, theirs = ours.strip(), theirs.strip()
    if ours.lower().startswith("0x") and theirs.lower().startswith("0x"):
        return ours.lower() == theirs.lower()  # EVM: checksum casing is not part of the address
    return ours == theirs


def foreign_address(assigned: AddressAssignment, event: DepositEvent) -> str | None:
    """Why a deposit callback was not sent to the assigned address (None: it was, or nobody
    can tell, because the address is not assigned yet or the callback names none)."""
    if assigned.address is None or not event.address_to:
        return None
    if not _same_address(assigned.address, event.address_to):
        return f"addressTo: {event.address_to[:80]!r} is not the address assigned to this order"
    tag, theirs = assigned.destination_tag, event.destination_tag
    if tag and theirs and tag.strip() != theirs.strip():
        return f"destinationTag: {theirs[:64]!r} is not the tag assigned to this order"
    return None


def names_this_address(assigned: AddressAssignment, entry: LedgerEntry) -> bool:
    """Whether a verified callback names this order's address, its tag (where it has one) and its
    currency: then it is the provider's own statement of the deposit (sent only on success)."""
    if assigned.address is None or not entry.address_to or entry.held:
        return False
    tag = (assigned.destination_tag or "").strip()
    return (
        entry.payment_id == assigned.payment_id
        and _same_address(assigned.address, entry.address_to)
        and (not tag or (entry.destination_tag or "").strip() == tag)
    )


class DepositResolution(OperatorDecision):
    """An operator's decision on a deposit the provider could not confirm."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"key": "70:0x5e1f0c", "credit": True, "note": "confirmed on the explorer"}
            ]
        }
    )

    key: str = Field(description="paymentId:txhash, as in the ledger")
    credit: bool = Field(description="true: credit the deposit; false: reject it")
    note: str = Field(min_length=1, max_length=500, description="why, for the journal")


class Acknowledgement(OperatorDecision):
    """An operator has dealt with one unmatched callback; the update's input keeps who, its
    history event when."""

    key: str = Field(min_length=1, max_length=128)


class UnmatchedCallback(BaseModel):
    """A verified callback no open workflow could take: kept for an operator, never dropped."""

    key: str = Field(description="sha256 of the raw body: redeliveries are kept once")
    received_at: datetime = Field(description="when it arrived")
    order_id: str | None = Field(description="the order it named, if any")
    kind: Literal["deposit", "withdrawal"] = Field(description="what kind of callback")
    reason: str = Field(description="why no workflow took it")
    deposit: DepositEvent | None = Field(
        default=None, description="the deposit it reported, if it was one"
    )
    raw: str = Field(max_length=16_384, description="the body as received")


InvoiceView = InvoiceState
"""What the query and the HTTP API return: the state itself."""
AddressView = AddressState
"""What the query and the HTTP API return: the state itself."""
