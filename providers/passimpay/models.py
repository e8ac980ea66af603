"""Typed Passimpay requests and replies; amounts are Decimal end to end, never float.

Replies accept the provider's camelCase names (and ours) and ignore fields they do not know,
so a new provider field never breaks a caller. Requests validate themselves when built:
a bad field raises pydantic's ValidationError, a ValueError like `InvalidInput`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
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
    """One entry of `/v2/currencies`: `id` is the paymentId used by every other call."""

    id: int
    name: str
    currency: str
    platform: str
    rate_usd: Decimal
    tag: bool = False
    min_deposit: Decimal = Decimal(0)

    @model_validator(mode="before")
    @classmethod
    def _default_tag(cls, data: Any) -> Any:
        """Older currency lists have no `tag`: infer it from the ticker."""
        if isinstance(data, dict) and "tag" not in data:
            return {**data, "tag": str(data.get("currency", "")).upper() in TAG_TICKERS}
        return data

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
    """`/v2/orderstatus`: `wait` until fully paid, `error` once cancelled or expired."""

    status: Literal["paid", "wait", "error"]
    amount_paid: Decimal | None = None
    currency: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _waiting_is_wait(cls, value: Any) -> Any:
        """The provider's overview spells `wait` as `waiting`."""
        value = value.lower() if isinstance(value, str) else value
        return "wait" if value == "waiting" else value


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
    """`/v2/withdrawstatus`: `approve` 0 pending, 1 success, 2 error."""

    approve: Approve
    transaction_id: OptionalText = None
    order_id: OptionalText = None
    payment_id: int | None = None
    address_to: str | None = None
    amount: Decimal | None = None
    txhash: OptionalText = None
    confirmations: int | None = None
    amount_debited: Decimal | None = None
    fee_network: Decimal | None = None
    fee_service: Decimal | None = None
    message: str | None = None
    reason: str | None = None


class DepositCallback(_Wire):
    """A credited deposit; deduplicate on (`txhash`, `confirmations`) per order."""

    platform_id: int
    payment_id: int
    order_id: Text
    amount: Decimal
    txhash: Text
    address_from: str | None = None
    address_to: str | None = None
    confirmations: int
    destination_tag: OptionalText = None


class WithdrawCallback(WithdrawStatus):
    """A withdrawal's state pushed by the provider, shaped like `/v2/withdrawstatus`."""

    platform_id: int


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
