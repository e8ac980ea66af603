"""Async Payment Assist client: signs every call and sorts failures into retry or give up."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from providers.errors import ConfigurationError, InvalidInput, Refused, Transient
from providers.paymentassist.errors import NotSent
from providers.paymentassist.models import (
    Account,
    ApplicationStatus,
    BeginRequest,
    BeginResult,
    CaptureResult,
    InvoiceFileType,
    InvoiceRequest,
    InvoiceResult,
    PlanQuote,
    PlanRequest,
    PreapprovalRequest,
    TokenRequest,
    UpdateRequest,
    UpdateResult,
)
from providers.paymentassist.signing import signature
from providers.renewable_pool import RenewablePool
from providers.telemetry import observed_call

PROVIDER = "paymentassist"
"""The provider's name in metrics and spans."""
LIVE_API_URL = "https://api.v1.payment-assist.co.uk"
DEMO_API_URL = "https://api.demo.payassi.st/"
_LIVE_HOST = "api.v1.payment-assist.co.uk"
# Client errors that mean "try again later" rather than "no".
_RETRYABLE_4XX = frozenset({408, 425, 429})
_MAX_MESSAGE = 300
# Failures raised before any byte of the request was written: the lender cannot have seen it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Waiting for a pooled connection or a TCP connect is bounded apart from the read timeout, so a
# jammed pool or an unreachable host is reported (as not sent) well within the activity timeout.
_SETUP_TIMEOUT = 10.0

Model = TypeVar("Model", bound=BaseModel)
Method = Literal["GET", "POST"]


class _RedactSignatures(logging.Filter):
    """Blank `signature=` values in httpx's request log lines (GET URLs carry them)."""

    _pattern = re.compile(r"(signature=)[^&\s\"]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._pattern.sub(r"\1[redacted]", str(arg))
                if "signature=" in str(arg).lower()
                else arg
                for arg in record.args
            )
        return True


def _install_log_redaction() -> None:
    """Attach the redaction filter to httpx's logger once per process."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _RedactSignatures) for existing in logger.filters):
        logger.addFilter(_RedactSignatures())


def check_environment(api_url: str, secret: str) -> None:
    """Refuse a demo secret against the live API, or a live secret anywhere else."""
    host = (urlsplit(api_url.strip()).hostname or "").lower()
    is_live = host == _LIVE_HOST
    if secret.startswith("demo_") and is_live:
        raise ConfigurationError(f"a demo_ API secret cannot be used with the live URL {api_url}")
    if secret.startswith("prod_") and not is_live:
        raise ConfigurationError(
            f"a prod_ API secret may only be used with the live URL {LIVE_API_URL}, not {api_url}"
        )


def _wire(value: Any) -> str:
    """A parameter as it travels and is signed: booleans as true/false, dates ISO."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _params(request: BaseModel) -> dict[str, str]:
    """The non-empty fields of a request model as wire strings."""
    values = {name: _wire(value) for name, value in request.model_dump(exclude_none=True).items()}
    return {name: value for name, value in values.items() if value != ""}


def _describe(error: ValidationError) -> str:
    """Name each bad field and why, without echoing the values (they may be personal data)."""
    problems = (
        f"{'.'.join(str(part) for part in issue['loc']) or 'input'}: {issue['msg']}"
        for issue in error.errors(include_input=False, include_url=False)
    )
    return f"invalid {error.title}: " + "; ".join(problems)


def _validated(model: type[Model], data: Model | Mapping[str, Any]) -> Model:
    """Validate our own input before any call; failures become InvalidInput."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(_describe(error)) from None


def _parsed(model: type[Model], data: Any, path: str) -> Model:
    """Read a success payload; a shape we cannot read is an unknown outcome, so Transient."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Transient(f"{path}: unexpected response data ({_describe(error)})") from None


def _short(text: Any) -> str:
    """Keep provider messages readable in errors and histories."""
    message = str(text) if text is not None else "no message"
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + "..."


class PaymentAssistClient:
    """One dealer's key pair against one Payment Assist environment."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        api_secret: str | SecretStr,
        *,
        timeout: float = 30.0,
        setup_timeout: float = _SETUP_TIMEOUT,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        secret = api_secret if isinstance(api_secret, SecretStr) else SecretStr(api_secret)
        if not api_url or not api_key or not secret.get_secret_value():
            raise ConfigurationError("Payment Assist needs an API URL, an API key and a secret")
        check_environment(api_url, secret.get_secret_value())
        self._api_key = api_key
        self._secret = secret
        _install_log_redaction()
        self._api_url = api_url
        self._timeout = timeout
        self._setup_timeout = min(timeout, setup_timeout)
        self._limits = httpx.Limits(max_connections=max_connections)
        self._transport = transport
        self._pool = RenewablePool(
            self._new_http, name="Payment Assist", renewable=transport is None
        )

    @property
    def pools_replaced(self) -> int:
        """How many jammed connection pools were replaced (encode/httpcore#1093)."""
        return self._pool.replaced

    def _new_http(self) -> httpx.AsyncClient:
        setup = self._setup_timeout
        return httpx.AsyncClient(
            base_url=self._api_url,
            timeout=httpx.Timeout(self._timeout, connect=setup, pool=setup),
            limits=self._limits,
            transport=self._transport,
            headers={"Accept": "application/json", "User-Agent": "payflow-paymentassist/0.1"},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections, including those of replaced pools."""
        await self._pool.aclose()

    async def account(self) -> Account:
        """The account's names and the plans it may offer."""
        return _parsed(Account, await self._call("GET", "/account", {}), "/account")

    async def plan(
        self, amount: int, *, plan_id: int | None = None, plan_length: int | None = None
    ) -> PlanQuote:
        """A repayment breakdown for `amount` pence."""
        request = _validated(
            PlanRequest, {"amount": amount, "plan_id": plan_id, "plan_length": plan_length}
        )
        return _parsed(PlanQuote, await self._call("POST", "/plan", _params(request)), "/plan")

    async def preapproval(self, request: PreapprovalRequest | Mapping[str, Any]) -> bool:
        """Whether the customer passes the soft check; a refusal must not be retried with edits."""
        checked = _validated(PreapprovalRequest, request)
        data = await self._call("POST", "/preapproval", _params(checked))
        approved = data.get("approved")
        if not isinstance(approved, bool):
            raise Transient("/preapproval: unexpected response data (approved is not a boolean)")
        return approved

    async def begin(self, request: BeginRequest | Mapping[str, Any]) -> BeginResult:
        """Start an application; the returned token is the only handle on it."""
        checked = _validated(BeginRequest, request)
        return _parsed(BeginResult, await self._call("POST", "/begin", _params(checked)), "/begin")

    async def status(self, token: str) -> ApplicationStatus:
        """The provider's current view of an application: the source of truth."""
        request = _validated(TokenRequest, {"token": token})
        data = await self._call("GET", "/status", _params(request))
        return _parsed(ApplicationStatus, data, "/status")

    async def update(
        self,
        token: str,
        *,
        order_id: str | None = None,
        expiry: int | None = None,
        amount: int | None = None,
    ) -> UpdateResult:
        """Change the order id (completed only), expiry or a lower amount (open only)."""
        request = _validated(
            UpdateRequest,
            {"token": token, "order_id": order_id, "expiry": expiry, "amount": amount},
        )
        if order_id is None and expiry is None and amount is None:
            raise InvalidInput("invalid UpdateRequest: give order_id, expiry or amount")
        data = await self._call("POST", "/update", _params(request))
        return _parsed(UpdateResult, data, "/update")

    async def capture(self, token: str) -> CaptureResult:
        """Finalise a `pending_capture` application; check `deposit_captured` and `status`."""
        request = _validated(TokenRequest, {"token": token})
        data = await self._call("POST", "/capture", _params(request))
        return _parsed(CaptureResult, data, "/capture")

    async def invoice(
        self, token: str, filetype: InvoiceFileType, document: bytes
    ) -> InvoiceResult:
        """Upload the customer's invoice (base64-encoded here); 404 until completed."""
        if not isinstance(document, bytes | bytearray) or not document:
            raise InvalidInput("invalid InvoiceRequest: document must be non-empty bytes")
        request = _validated(
            InvoiceRequest,
            {
                "token": token,
                "filetype": filetype,
                "filedata": base64.b64encode(document).decode("ascii"),
            },
        )
        data = await self._call("POST", "/invoice", _params(request))
        return _parsed(InvoiceResult, data, "/invoice")

    async def _call(self, method: Method, path: str, params: dict[str, str]) -> dict[str, Any]:
        """Sign exactly the values sent, send them, and return the envelope's `data`."""
        signed = {
            **params,
            "api_key": self._api_key,
            "signature": signature(params, self._secret.get_secret_value()),
        }
        with observed_call(PROVIDER, path) as span:
            try:
                async with self._pool.client() as http:
                    if method == "GET":
                        response = await http.get(path, params=signed)
                    else:
                        response = await http.post(path, data=signed)
            except _NOT_SENT as error:
                raise NotSent(f"{path}: not sent ({type(error).__name__})") from None
            except httpx.TimeoutException as error:
                raise Transient(f"{path}: timed out ({type(error).__name__})") from None
            except httpx.HTTPError as error:
                raise Transient(f"{path}: transport error ({type(error).__name__})") from None
            span.set_attribute("http.response.status_code", response.status_code)
            return self._data(path, response)

    @staticmethod
    def _data(path: str, response: httpx.Response) -> dict[str, Any]:
        """Map status codes and the JSON envelope onto Refused, Transient or the data."""
        code = response.status_code
        if code >= 500 or code in _RETRYABLE_4XX:
            raise Transient(f"{path}: HTTP {code}", status_code=code)
        if 300 <= code < 400:
            raise Refused(f"{path}: unexpected redirect; check the API URL", status_code=code)
        try:
            body = response.json()
        except ValueError:
            message = f"{path}: HTTP {code} without a JSON body"
            if code >= 400:
                raise Refused(message, status_code=code) from None
            raise Transient(message, status_code=code) from None
        envelope = body if isinstance(body, dict) else {}
        if code >= 400 or envelope.get("status") == "error":
            message = f"{path}: {_short(envelope.get('msg'))}"
            raise Refused(message, status_code=code, data=envelope.get("data"))
        data = envelope.get("data")
        if envelope.get("status") != "ok" or not isinstance(data, dict):
            raise Transient(f"{path}: unexpected response envelope", status_code=code)
        return data
