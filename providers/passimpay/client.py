"""Async Passimpay API client: signed JSON POSTs, typed replies, errors split by what to do next.

Every body is serialised once, signed over those exact bytes and sent as those bytes.

Errors:
- `InvalidInput`: our own checks refused the input before anything was sent.
- `Refused`: HTTP 4xx or `{"result": 0, "message": ...}`; the provider said no.
- `NotFound` (a `Refused`): the message says the order, withdrawal or transaction is not
  found. The simulator answers exactly `Order not found` (`/v2/orderstatus`,
  `/v3/orderstatus`) and `Withdrawal not found` (`/v2/withdrawstatus`); the real provider's
  wording is unpublished, so any message naming an order, withdrawal or transaction together
  with "not found" or "does not exist" counts. For a payout this means "never received".
- `Transient`: 5xx, timeout, transport failure, or a reply that is not the JSON we expect;
  the outcome is unknown (a withdrawal may have been committed): check status, then retry.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from providers.errors import InvalidInput, Refused, Transient
from providers.passimpay.models import (
    Balance,
    CreateOrderRequest,
    Currency,
    DepositAddress,
    InvoiceLink,
    OrderStatus,
    OrderStatusV3,
    WithdrawRequest,
    WithdrawResult,
    WithdrawStatus,
)
from providers.passimpay.signing import encode_body, signature
from providers.passimpay.validation import validate_order_id, validate_withdraw_address
from providers.passimpay.withdraw_sender import PreparedRequest, prepare
from providers.renewable_pool import RenewablePool
from providers.telemetry import observed_call

_NOT_FOUND = re.compile(
    r"\b(?:order|withdraw|transaction)\w*\b.*\bnot (?:found|exist)",
    re.IGNORECASE,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
PROVIDER = "passimpay"
"""The provider's name in metrics and spans."""
WITHDRAW_PATH = "/v2/withdraw"
SETUP_TIMEOUT = 10.0
"""Waiting for a pooled connection or a connect is bounded apart from the reply, so a jammed
pool or an unreachable host fails fast (and the pool is renewed)."""


class NotFound(Refused):
    """The provider does not know this order, withdrawal or transaction."""


def _refusal(message: str, status_code: int, data: Any) -> Refused:
    """A `NotFound` when the message says so, else a plain `Refused`."""
    kind = NotFound if _NOT_FOUND.search(message) else Refused
    return kind(message, status_code=status_code, data=data)


class PassimpayClient:
    """One platform's Passimpay API; reuse it, it pools connections and caches currencies."""

    def __init__(
        self,
        api_url: str,
        platform_id: int,
        api_key: str | SecretStr,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        currencies_ttl: float = 300.0,
    ) -> None:
        self._platform_id = platform_id
        self._secret = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self._api_url = api_url.rstrip("/")
        setup = min(timeout, SETUP_TIMEOUT)
        self._pool = RenewablePool(
            lambda: httpx.AsyncClient(
                base_url=self._api_url,
                timeout=httpx.Timeout(timeout, connect=setup, pool=setup),
                transport=transport,
            ),
            name="Passimpay",
            renewable=transport is None,
        )
        self._tls: ssl.SSLContext | None = None
        self._currencies_ttl = currencies_ttl
        self._currencies: list[Currency] | None = None
        self._currencies_at = 0.0
        self._currencies_lock = asyncio.Lock()

    @property
    def platform_id(self) -> int:
        """The platform this client signs for (limits such as 1 withdraw/s are per platform)."""
        return self._platform_id

    async def __aenter__(self) -> PassimpayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._pool.aclose()

    async def currencies(self) -> list[Currency]:
        """The currency list, cached for `currencies_ttl` (the provider allows about 1 call/s)."""
        async with self._currencies_lock:
            fresh = time.monotonic() - self._currencies_at < self._currencies_ttl
            if self._currencies is None or not fresh:
                data = await self._post("/v2/currencies", {})
                listed = data.get("list")
                if not isinstance(listed, list):
                    raise Transient("/v2/currencies: reply has no list")
                self._currencies = _currency_list(listed)
                self._currencies_at = time.monotonic()
            return list(self._currencies)

    async def currency(self, payment_id: int) -> Currency:
        """One currency by paymentId, from the cached list."""
        for currency in await self.currencies():
            if currency.id == payment_id:
                return currency
        raise InvalidInput(f"paymentId {payment_id!r} is not in the platform's currency list")

    async def balance(self) -> Balance:
        """The platform balance."""
        return _parse(Balance, "/v2/balance", await self._post("/v2/balance", {}))

    async def address(self, payment_id: int, order_id: str) -> DepositAddress:
        """The H2H deposit address (and tag, on tag networks) for one order and currency."""
        validate_order_id(order_id)
        data = await self._post("/v2/address", {"paymentId": payment_id, "orderId": order_id})
        return _parse(DepositAddress, "/v2/address", data)

    async def create_order(self, request: CreateOrderRequest) -> InvoiceLink:
        """Create an invoice and return its hosted payment page."""
        data = await self._post("/v2/createorder", request.body())
        return _parse(InvoiceLink, "/v2/createorder", data)

    async def order_status(self, order_id: str) -> OrderStatus:
        """An invoice's status from `/v2/orderstatus`: the truth, unlike callbacks."""
        validate_order_id(order_id)
        data = await self._post("/v2/orderstatus", {"orderId": order_id})
        return _parse(OrderStatus, "/v2/orderstatus", data)

    async def order_status_v3(self, order_id: str) -> OrderStatusV3:
        """An invoice's status with credited amounts and fees, from `/v3/orderstatus`."""
        validate_order_id(order_id)
        data = await self._post("/v3/orderstatus", {"orderId": order_id})
        return _parse(OrderStatusV3, "/v3/orderstatus", data)

    async def withdraw(self, request: WithdrawRequest) -> WithdrawResult:
        """Send one payout at once; payflow's workflows send through `prepare_withdraw` instead."""
        validate_withdraw_address(request.address_to, await self.currency(request.payment_id))
        data = await self._post(WITHDRAW_PATH, request.body())
        return _parse(WithdrawResult, WITHDRAW_PATH, data)

    async def prepare_withdraw(self, request: WithdrawRequest) -> PreparedRequest:
        """Validate, serialise and sign a payout now; the caller decides when its bytes leave."""
        validate_withdraw_address(request.address_to, await self.currency(request.payment_id))
        body, headers = self._signed(request.body())
        return prepare(f"{self._api_url}{WITHDRAW_PATH}", headers, body)

    @property
    def tls(self) -> ssl.SSLContext:
        """One TLS context for every prepared request (building one costs milliseconds)."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    @staticmethod
    def withdraw_reply(status_code: int, content: bytes) -> WithdrawResult:
        """Read a `/v2/withdraw` reply: the result, `Refused`, or `Transient` (outcome unknown)."""
        data = _envelope(WITHDRAW_PATH, status_code, content)
        return _parse(WithdrawResult, WITHDRAW_PATH, data)

    async def withdraw_status(
        self, *, order_id: str | None = None, transaction_id: str | None = None
    ) -> WithdrawStatus:
        """A payout's state by our `order_id` or the provider's `transaction_id`."""
        if (order_id is None) == (transaction_id is None):
            raise InvalidInput("withdraw_status needs exactly one of order_id or transaction_id")
        if order_id is not None:
            fields: dict[str, Any] = {"orderId": validate_order_id(order_id)}
        else:
            fields = {"transactionId": transaction_id}
        data = await self._post("/v2/withdrawstatus", fields)
        return _parse(WithdrawStatus, "/v2/withdrawstatus", data)

    async def _post(self, path: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Sign and send one call; return the success envelope or raise by outcome."""
        body, headers = self._signed(fields)
        with observed_call(PROVIDER, path) as span:
            try:
                async with self._pool.client() as http:
                    response = await http.post(path, content=body, headers=headers)
            except httpx.TimeoutException as exc:
                raise Transient(f"{path}: timed out ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise Transient(f"{path}: transport failed ({type(exc).__name__})") from None
            span.set_attribute("http.response.status_code", response.status_code)
            return _envelope(path, response.status_code, response.content)

    def _signed(self, fields: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body as it will be sent (platformId added) and its headers with `x-signature`."""
        body = encode_body({**fields, "platformId": self._platform_id})
        headers = {
            "Content-Type": "application/json",
            "x-signature": signature(self._platform_id, body, self._secret.get_secret_value()),
        }
        return body, headers


def _envelope(path: str, status: int, content: bytes) -> dict[str, Any]:
    """Split a reply into success data, `Refused`/`NotFound` or `Transient`."""
    if status >= 500 or status in (408, 429):
        raise Transient(f"{path}: HTTP {status}", status_code=status)
    try:
        data = json.loads(content, parse_float=Decimal)
    except ValueError:
        raise Transient(f"{path}: HTTP {status} reply is not JSON", status_code=status) from None
    if not isinstance(data, dict):
        raise Transient(f"{path}: HTTP {status} reply is not an object", status_code=status)
    if status == 200 and str(data.get("result")) == "1":
        return data
    if status == 200 or 400 <= status < 500:
        raise _refusal(str(data.get("message") or "no message"), status, data)
    raise Transient(f"{path}: unexpected HTTP {status}", status_code=status)


def _currency_list(listed: list[Any]) -> list[Currency]:
    """Every currency we can read; one odd entry must not hide the others (asking for it by
    paymentId then fails loudly), but a list with none readable is a reply we do not understand."""
    readable: list[Currency] = []
    for item in listed:
        try:
            readable.append(Currency.model_validate(item))
        except ValidationError:
            continue
    if listed and not readable:
        _parse(Currency, "/v2/currencies", listed[0])
    return readable


def _parse(model: type[ModelT], path: str, data: Any) -> ModelT:
    """Validate a success reply; a shape we do not understand leaves the outcome unknown."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, error["loc"])) for error in exc.errors())
        raise Transient(f"{path}: unexpected reply, bad fields: {fields}") from None
