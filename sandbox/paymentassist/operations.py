"""What each signed endpoint does to the sandbox's state, with the provider's rules and errors."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sandbox.paymentassist.plans import PLANS, Plan, find_plan, quote
from sandbox.paymentassist.store import Application

if TYPE_CHECKING:
    from sandbox.paymentassist.sandbox import PaymentAssistSandbox

DEFAULT_EXPIRY = 86_400
MAX_TEXT = 255
FILETYPES = frozenset({"pdf", "html", "txt", "doc", "xls"})
_INTEGER = re.compile(r"-?[0-9]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ApiError(Exception):
    """An error envelope to answer with: HTTP status, human message, related data."""

    def __init__(self, status_code: int, msg: str, data: Any = None) -> None:
        super().__init__(msg)
        self.status_code = status_code
        self.msg = msg
        self.data = data


@dataclass(frozen=True)
class Call:
    """An authenticated request: whose account, its parameters, where the app is reachable."""

    api_key: str
    params: Mapping[str, str]
    public_url: str


def _require(params: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise ApiError(400, f"missing required parameter(s): {', '.join(missing)}", missing)


def _check_lengths(params: Mapping[str, str], *exempt: str) -> None:
    for name, value in params.items():
        if name not in exempt and len(value) > MAX_TEXT:
            raise ApiError(400, f"{name} must be at most {MAX_TEXT} characters", {"field": name})


def _integer(params: Mapping[str, str], name: str, *, minimum: int) -> int | None:
    value = params.get(name)
    return _parse_integer(name, value, minimum=minimum) if value else None


def _parse_integer(name: str, value: str, *, minimum: int) -> int:
    if not _INTEGER.fullmatch(value):
        raise ApiError(400, f"{name} must be an integer", {"field": name})
    number = int(value)
    if number < minimum:
        raise ApiError(400, f"{name} must be at least {minimum}", {"field": name})
    return number


def _boolean(params: Mapping[str, str], name: str, default: bool) -> bool:
    value = params.get(name, "").lower()
    if not value:
        return default
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false", {"field": name})
    return value in ("true", "1")


def _is_date(value: str) -> bool:
    """YYYY-MM-DD and a real calendar day."""
    if not _DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _plan(plan_id: int | None) -> Plan:
    plan = find_plan(plan_id)
    if plan is None:
        raise ApiError(400, "unknown plan_id", {"plan_ids": [known.plan_id for known in PLANS]})
    return plan


def _check_amount(plan: Plan, amount: int) -> None:
    if not plan.allows(amount):
        raise ApiError(
            400,
            f"amount is outside the limits of plan {plan.name}",
            {"min_amount": plan.min_amount, "max_amount": plan.max_amount},
        )


def _application(sandbox: PaymentAssistSandbox, call: Call) -> Application:
    """The caller's own application named by `token`; others' are as good as absent."""
    _require(call.params, "token")
    found = sandbox.store.get(call.params["token"])
    if found is None or found.api_key != call.api_key:
        raise ApiError(404, "application not found", None)
    return sandbox.refresh(found)


def account(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """GET /account: the dealer's names and plans."""
    return {
        "legal_name": "Payflow Sandbox Motors Ltd",
        "display_name": "Sandbox Motors",
        "plans": [plan.listing() for plan in PLANS],
    }


def plan(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """POST /plan: a repayment schedule for an amount."""
    _require(call.params, "amount")
    amount = _parse_integer("amount", call.params["amount"], minimum=1)
    chosen = _plan(_integer(call.params, "plan_id", minimum=1))
    length = _integer(call.params, "plan_length", minimum=1) or chosen.instalments
    if length not in chosen.lengths:
        raise ApiError(400, f"plan_length must be one of {list(chosen.lengths)}", None)
    _check_amount(chosen, amount)
    today = dt.datetime.fromtimestamp(sandbox.clock(), dt.UTC).date()
    return quote(chosen, amount, length, today)


def preapproval(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """POST /preapproval: approved unless the surname is "Decline" (the sandbox's test rule)."""
    _require(call.params, "f_name", "s_name", "addr1", "postcode")
    _check_lengths(call.params)
    return {"approved": call.params["s_name"].strip().lower() != "decline"}


def begin(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """POST /begin: create an application, unique per order id, within the plan's limits."""
    params = call.params
    _require(params, "order_id", "amount", "email", "f_name", "s_name", "addr1", "postcode")
    sandbox.begins_by_order[params["order_id"]] += 1
    _check_lengths(params)
    amount = _parse_integer("amount", params["amount"], minimum=1)
    chosen = _plan(_integer(params, "plan_id", minimum=1))
    _check_amount(chosen, amount)
    expiry = _integer(params, "expiry", minimum=0)
    if not _EMAIL.fullmatch(params["email"]):
        raise ApiError(400, "email is not a valid email address", {"field": "email"})
    if params.get("dob") and not _is_date(params["dob"]):
        raise ApiError(400, "dob must be a date as YYYY-MM-DD", {"field": "dob"})
    for flag in ("send_email", "send_sms", "multi_plan", "qr_code"):
        _boolean(params, flag, False)
    auto_capture = _boolean(params, "auto_capture", True)
    if sandbox.store.order_taken(call.api_key, params["order_id"]):
        raise ApiError(400, "order_id already exists", {"order_id": params["order_id"]})
    now = sandbox.clock()
    application = Application(
        token=str(uuid.uuid4()),
        api_key=call.api_key,
        order_id=params["order_id"],
        amount=amount,
        plan_id=chosen.plan_id,
        params=dict(params),
        created_at=now,
        expires_at=now + (DEFAULT_EXPIRY if expiry is None else expiry),
        auto_capture=auto_capture,
    )
    sandbox.admit(application)
    url = f"{call.public_url}/continue/{application.token}"
    data = {"token": application.token, "url": url}
    if _boolean(params, "qr_code", False):
        # Not a real image: the sandbox only promises a base64 value that names the URL.
        data["qr_code"] = base64.b64encode(f"QR:{url}".encode()).decode("ascii")
    return data


def status(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """GET /status: the application as the provider sees it now."""
    return _application(sandbox, call).status_data(sandbox.variants)


def update(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """POST /update: order id once completed; expiry or a lower amount while still open."""
    application = _application(sandbox, call)
    params = call.params
    _check_lengths(params)
    order_id = params.get("order_id") or None
    expiry = _integer(params, "expiry", minimum=0)
    amount = _integer(params, "amount", minimum=1)
    if order_id is None and expiry is None and amount is None:
        raise ApiError(400, "nothing to update: give order_id, expiry or amount", None)
    state = {"token": application.token, "status": application.status}
    if order_id is not None:
        if application.status != "completed":
            raise ApiError(400, "order_id can only be changed on a completed application", state)
        if order_id != application.order_id and sandbox.store.order_taken(call.api_key, order_id):
            raise ApiError(400, "order_id already exists", {"order_id": order_id})
    if (expiry is not None or amount is not None) and not application.is_open:
        raise ApiError(
            400,
            "expiry and amount can only change while pending, in progress or pending_capture",
            state,
        )
    if amount is not None:
        if amount > application.amount:
            raise ApiError(400, "amount can only be lowered", {"amount": application.amount})
        _check_amount(_plan(application.plan_id), amount)
    data: dict[str, Any] = {"token": application.token}
    if order_id is not None:
        sandbox.store.rename_order(application, order_id)
        data["order_id"] = order_id
    if amount is not None:
        application.amount = amount
        sandbox.store.save(application)
        data["amount"] = amount
    if expiry is not None:
        sandbox.set_expiry(application, expiry)
        data["expiry"] = expiry
    return data


def capture(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """POST /capture: take the deposit and complete, or report why the deposit failed."""
    application = _application(sandbox, call)
    if application.status != "pending_capture":
        raise ApiError(
            400,
            f"application is {application.status}, not pending_capture",
            {"token": application.token, "status": application.status},
        )
    reason = sandbox.faults.take_deposit_failure(application.token)
    if reason is not None:
        return {
            "token": application.token,
            "status": application.status,
            "deposit_captured": False,
            "deposit_reason": reason,
        }
    sandbox.finish(application, "completed")
    has_deposit = _plan(application.plan_id).deposit
    return {
        "token": application.token,
        "status": application.status,
        "deposit_captured": True if has_deposit else None,
        "deposit_reason": None,
    }


def invoice(sandbox: PaymentAssistSandbox, call: Call) -> dict[str, Any]:
    """POST /invoice: store the invoice of a completed application (404 before that)."""
    params = call.params
    _require(params, "token", "filetype", "filedata")
    _check_lengths(params, "filedata")
    if params["filetype"] not in FILETYPES:
        raise ApiError(400, f"filetype must be one of {sorted(FILETYPES)}", {"field": "filetype"})
    application = _application(sandbox, call)
    if application.status != "completed":
        raise ApiError(404, "application not completed", {"status": application.status})
    try:
        document = base64.b64decode(params["filedata"], validate=True)
    except (binascii.Error, ValueError):
        return {"token": application.token, "upload_status": "failed"}
    application.invoice = (params["filetype"], document)
    application.has_invoice = True
    sandbox.store.save(application)
    return {"token": application.token, "upload_status": "success"}


Operation = Callable[["PaymentAssistSandbox", Call], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One signed endpoint: the HTTP method it takes and what it does."""

    method: Literal["GET", "POST"]
    run: Operation


ENDPOINTS: dict[str, Endpoint] = {
    "account": Endpoint("GET", account),
    "plan": Endpoint("POST", plan),
    "preapproval": Endpoint("POST", preapproval),
    "begin": Endpoint("POST", begin),
    "status": Endpoint("GET", status),
    "update": Endpoint("POST", update),
    "capture": Endpoint("POST", capture),
    "invoice": Endpoint("POST", invoice),
}
