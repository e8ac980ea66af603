"""Typed Passimpay requests and replies; amounts are Decimal end to end, never float.

Replies accept the provider's camelCase names (and ours) and ignore fields they do not know,
so a new provider field never breaks a caller. Requests validate themselves when built:
a bad field raises pydantic's ValidationError, a ValueError like `InvalidInput`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from providers.passimpay.validation import validate_order_id

UTXO_TICKERS = frozenset({"BTC", "LTC", "DASH", "DOGE", "BCH"})
"""Coins whose deposits are reported twice: at the first and at the second confirmation."""

TAG_TICKERS = frozenset({"XRP", "TON", "XLM", "EOS"})
"""Networks that need a destination tag when the currency list does not say."""

CENT = Decimal("0.01")


def _text(value: Any) -> Any:
    """Ids the provider may send as numbers are kept as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _number(value: Any) -> Any:
    """Codes the provider may send as digit strings are read as integers."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


Text = Annotated[str, BeforeValidator(_text)]
OptionalText = Annotated[str | None, BeforeValidator(_text)]
Approve = Annotated[Literal[0, 1, 2], BeforeValidator(_number)]


class _Wire(BaseModel):
    """Provider camelCase on the wire, snake_case in Python, immutable values."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class Currency(_Wire):
    """One entry of `/v2/currencies`: `id` is the paymentId used by every other call.

    Read leniently (the docs are vague): `platform` or `network`, `rateUsd` or `rate_usd`,
    `minDeposit` or `minDep`, numbers as strings or numbers; without `tag`, the known tag
    networks (XRP, TON, ...) need one.
    """

    id: int
    name: str = ""
    currency: str
    platform: str = Field(validation_alias=AliasChoices("platform", "network", "chain"))
    rate_usd: Decimal = Field(
        default=Decimal(0), validation_alias=AliasChoices("rateUsd", "rate_usd", "rate")
    )
    tag: bool = False
    min_deposit: Decimal = Field(
        default=Decimal(0),
        validation_alias=AliasChoices("minDeposit", "minDep", "min_deposit", "min_dep"),
    )

    @model_validator(mode="before")
    @classmethod
    def _default_tag(cls, data: Any) -> Any:
        """Older lists have no `tag` (or a null one): infer it from the ticker and network."""
        if isinstance(data, dict) and data.get("tag") in (None, ""):
            named = {str(data.get(k, "")).upper() for k in ("currency", "platform", "network")}
            return {**data, "tag": bool(named & TAG_TICKERS)}
        return data

    @field_validator("rate_usd", "min_deposit", mode="before")
    @classmethod
    def _blank_is_zero(cls, value: Any) -> Any:
        """An empty or null number is unknown, read as 0 (nothing needs it to be exact)."""
        return Decimal(0) if value in (None, "") else value

    @property
    def is_utxo(self) -> bool:
        """True when deposits produce two callbacks (first and second confirmation)."""
        return self.currency.upper() in UTXO_TICKERS


class Balance(_Wire):
    """`/v2/balance`; the provider's shape is unconfirmed, so only `balance` is read."""

    balance: Decimal | None = None


class DepositAddress(_Wire):
    """An H2H deposit address; `destination_tag` is set on tag networks (XRP, TON)."""

    address: str
    destination_tag: OptionalText = None


class InvoiceLink(_Wire):
    """The hosted payment page of an invoice."""

    url: str


class OrderStatus(_Wire):
    """`/v2/orderstatus`: `wait` until fully paid, `error` once cancelled or expired.

    `amountPaid` is in the unit named by `currency`: the provider does not say whether that is
    the invoice's fiat or the coin paid with, so callers compare only within one unit.
    """

    status: Literal["paid", "wait", "error"]
    amount_paid: Decimal | None = None
    currency: OptionalText = None

    @field_validator("status", mode="before")
    @classmethod
    def _waiting_is_wait(cls, value: Any) -> Any:
        """The provider's overview spells `wait` as `waiting`; cancelled or expired is `error`."""
        value = value.strip().lower() if isinstance(value, str) else value
        return _STATUS_SYNONYMS.get(value, value) if isinstance(value, str) else value

    @field_validator("amount_paid", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


_STATUS_SYNONYMS = {
    "waiting": "wait",
    "pending": "wait",
    "expired": "error",
    "cancelled": "error",
    "canceled": "error",
}


class OrderStatusV3(OrderStatus):
    """`/v3/orderstatus`: v2 plus what was credited and the fees taken."""

    amount_credited_merchant: Decimal | None = None
    amount_credited_user: Decimal | None = None
    fee_service: Decimal | None = None
    fee_network: Decimal | None = None


class WithdrawResult(_Wire):
    """A payout accepted by `/v2/withdraw`; its outcome comes later from withdrawstatus."""

    payment_id: int
    address_to: str
    amount: Decimal
    transaction_id: Text


class WithdrawStatus(_Wire):
    """`/v2/withdrawstatus`: `approve` 0 pending, 1 success, 2 error; the tag of a tag network
    may come appended to `addressTo` (`address:tag`) or apart in `destinationTag`."""

    approve: Approve
    transaction_id: OptionalText = None
    order_id: OptionalText = None
    payment_id: int | None = None
    address_to: str | None = None
    destination_tag: OptionalText = None
    amount: Decimal | None = None
    txhash: OptionalText = None
    confirmations: int | None = None
    amount_debited: Decimal | None = None
    fee_network: Decimal | None = None
    fee_service: Decimal | None = None
    message: str | None = None
    reason: str | None = None


MAX_AMOUNT_DIGITS = 30
"""Integer and fraction digits a callback amount may have: more is no coin amount."""
MAX_CONFIRMATIONS = 1_000_000
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_TXHASH = re.compile(r"[^\s]{1,200}")


def _txhash(value: str) -> str:
    if not _TXHASH.fullmatch(value):
        raise ValueError("txhash must be 1..200 characters without spaces")
    return value


TxHash = Annotated[str, BeforeValidator(_text), AfterValidator(_txhash)]


def _amount_text(value: Any) -> Any:
    """A callback amount is a plain, positive decimal: a string as documented
    (`"4.300000000000000000"`), or a JSON number, read exactly from the body's text (the parser
    hands it over as a Decimal, never through a float).

    An exponent in a string (`1E+400`), `NaN`, `Infinity`, zero, a negative value or more than
    `MAX_AMOUNT_DIGITS` digits on either side of the point is no amount Passimpay sends.
    """
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        value = _number_text(Decimal(value))
    if not isinstance(value, str):
        raise ValueError(f"amount must be a decimal string or number, not {type(value).__name__}")
    if not _PLAIN_DECIMAL.fullmatch(value):
        raise ValueError(f"amount {_shown(value)} is not a plain decimal number")
    whole, _, fraction = value.lstrip("-").partition(".")
    if len(whole.lstrip("0")) > MAX_AMOUNT_DIGITS or len(fraction) > MAX_AMOUNT_DIGITS:
        raise ValueError(f"amount {_shown(value)} has more than {MAX_AMOUNT_DIGITS} digits")
    if Decimal(value) <= 0:
        raise ValueError(f"amount {value} is not positive")
    return value


def _number_text(number: Decimal) -> str:
    """A JSON number as plain decimal text; bounded before it is written out in full."""
    if not number.is_finite():
        raise ValueError(f"amount {number} is not a finite number")
    if abs(number.adjusted()) > MAX_AMOUNT_DIGITS:
        raise ValueError(f"amount {number} has more than {MAX_AMOUNT_DIGITS} digits")
    return format(number, "f")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _strict_int(value: Any) -> Any:
    """Counts are whole numbers: `2` or `"2"`, never `2.5`, `true` or `"two"`."""
    if isinstance(value, bool) or (isinstance(value, float | Decimal) and value != int(value)):
        raise ValueError("must be a whole number")
    return value


CallbackAmount = Annotated[Decimal, BeforeValidator(_amount_text)]
Confirmations = Annotated[int, BeforeValidator(_strict_int), Field(ge=0, le=MAX_CONFIRMATIONS)]


class DepositCallback(_Wire):
    """A credited deposit; deduplicate on (`txhash`, `confirmations`) per order.

    Values no deposit can have are refused here, after the signature was verified: a
    non-positive, non-finite or unbounded amount, a negative or fractional confirmation
    count, an empty txhash, a malformed orderId or paymentId.
    """

    platform_id: int
    payment_id: Annotated[int, BeforeValidator(_strict_int), Field(gt=0)]
    order_id: Text
    amount: CallbackAmount
    txhash: TxHash
    address_from: str | None = Field(default=None, max_length=200)
    address_to: str | None = Field(default=None, max_length=200)
    confirmations: Confirmations
    destination_tag: OptionalText = None

    @field_validator("order_id")
    @classmethod
    def _order_id(cls, value: str) -> str:
        return validate_order_id(value)


def _sane_amount(value: Decimal | None, name: str, *, zero: bool) -> None:
    if value is None:
        return
    if not value.is_finite():
        raise ValueError(f"{name} {value} is not a finite number")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} {value} is {'negative' if zero else 'not positive'}")
    if value.adjusted() >= MAX_AMOUNT_DIGITS:
        raise ValueError(f"{name} {value} has more than {MAX_AMOUNT_DIGITS} digits")


class WithdrawCallback(WithdrawStatus):
    """A withdrawal's state pushed by the provider, shaped like `/v2/withdrawstatus`, with the
    deposit callback's sanity checks: amounts finite and bounded (the amount positive, fees and
    the debit not negative), confirmations a count, a txhash (when given) not empty."""

    platform_id: int
    confirmations: Annotated[
        int | None, BeforeValidator(_strict_int), Field(ge=0, le=MAX_CONFIRMATIONS)
    ] = None
    txhash: TxHash | None = None
    payment_id: Annotated[int | None, BeforeValidator(_strict_int), Field(gt=0)] = None

    @field_validator("order_id")
    @classmethod
    def _order_id(cls, value: str | None) -> str | None:
        return None if value is None else validate_order_id(value)

    @model_validator(mode="after")
    def _sane_amounts(self) -> WithdrawCallback:
        _sane_amount(self.amount, "amount", zero=False)
        for name in ("amount_debited", "fee_network", "fee_service"):
            _sane_amount(getattr(self, name), to_camel(name), zero=True)
        return self


class CreateOrderRequest(_Wire):
    """An invoice link for a fixed amount in `symbol` (USD by default)."""

    order_id: str
    amount: Decimal = Field(gt=0)
    symbol: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    currencies: list[int] | None = None
    type: Literal[0, 1, 2] | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone_no: str | None = None
    return_url: str | None = None

    @field_validator("order_id")
    @classmethod
    def _order_id(cls, value: str) -> str:
        return validate_order_id(value)

    @field_validator("amount")
    @classmethod
    def _two_decimals(cls, value: Decimal) -> Decimal:
        """Invoice amounts travel with exactly two decimals; more would be silently cut."""
        if value != value.quantize(CENT):
            raise ValueError(f"amount {value} has more than two decimals")
        return value

    def body(self) -> dict[str, Any]:
        """The request fields in the provider's names, without `platformId`."""
        fields: dict[str, Any] = {
            "orderId": self.order_id,
            "amount": format(self.amount.quantize(CENT), "f"),
            "symbol": self.symbol,
            "currencies": ",".join(map(str, self.currencies)) if self.currencies else None,
            "type": self.type,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "email": self.email,
            "phoneNo": self.phone_no,
            "returnUrl": self.return_url,
        }
        return {key: value for key, value in fields.items() if value is not None}


class WithdrawRequest(_Wire):
    """A payout of `amount` (crypto, or `symbol` fiat) identified by our unique `order_id`."""

    payment_id: int = Field(gt=0)
    address_to: str
    amount: Decimal = Field(gt=0)
    symbol: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    order_id: str

    @field_validator("order_id")
    @classmethod
    def _order_id(cls, value: str) -> str:
        return validate_order_id(value)

    def body(self) -> dict[str, Any]:
        """The request fields in the provider's names, amount as a plain decimal string."""
        fields: dict[str, Any] = {
            "paymentId": self.payment_id,
            "addressTo": self.address_to,
            "amount": format(self.amount, "f"),
            "symbol": self.symbol,
            "orderId": self.order_id,
        }
        return {key: value for key, value in fields.items() if value is not None}
