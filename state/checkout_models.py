"""What callers send to and read from a Payment Assist checkout; no secrets, pence as int."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime, timedelta
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from providers.paymentassist.models import BeginRequest
from state.checkout import CheckoutLifecycle
from state.checkout_health import CallHealth
from state.decision import OperatorDecision
from state.ledger_models import LedgerMark
from state.lifecycle import LifecycleEntry
from state.notifications import NotifyUrl, Outbox
from state.numbers import Count, Seconds
from state.polling import (
    MAX_POLL_SECONDS,
    MAX_WAIT_SECONDS,
    MIN_POLL_SECONDS,
    PollTiming,
    backed_off,
)

ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/=+\-]{0,254}$"
MAX_INVOICE_BYTES = 1_500_000
MAX_INVOICE_BASE64 = (MAX_INVOICE_BYTES + 2) // 3 * 4
InvoiceFileType = Literal["pdf", "html", "txt", "doc", "xls"]


class Customer(BaseModel):
    """The applicant, as Payment Assist needs them for pre-approval and `/begin`."""

    model_config = ConfigDict(str_strip_whitespace=True, str_max_length=255)

    email: str = Field(
        min_length=3,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="the applicant's email; the lender writes to it",
    )
    f_name: str = Field(min_length=1, description="first name")
    s_name: str = Field(min_length=1, description="surname")
    addr1: str = Field(min_length=1, description="first line of the address")
    postcode: str = Field(min_length=2, max_length=10, description="UK postcode")
    addr2: str | None = Field(default=None, description="second line of the address")
    addr3: str | None = Field(default=None, description="third line of the address")
    town: str | None = Field(default=None, description="town or city")
    county: str | None = Field(default=None, description="county")
    telephone: str | None = Field(default=None, description="phone number")
    dob: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="date of birth, YYYY-MM-DD"
    )


class CheckoutTiming(PollTiming):
    """Polling of `/status`: from 30 s after a start or hint, doubling while the customer is on
    the lender's page, every 5 minutes at most (and once the active window has passed)."""

    invoice_poll_seconds: Seconds = Field(
        default=3600.0,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="how often a completed checkout asks whether the lender needs the invoice",
    )
    invoice_watch_seconds: Seconds = Field(
        default=86_400.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="after completion, keep re-reading `/status` (requires_invoice) this long",
    )
    attention_after_seconds: Seconds = Field(
        default=600.0,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="provider calls failing this long set NeedsAttention (retries go on)",
    )

    def interval(self, seconds_since_activity: float) -> float:
        """The next poll delay: backing off from the active poll toward the idle one."""
        if seconds_since_activity >= self.active_window_seconds:
            return self.idle_poll_seconds
        return backed_off(self.active_poll_seconds, self.idle_poll_seconds, seconds_since_activity)


CaptureMode = Literal["automatic", "on_request"]


class CheckoutTerms(BaseModel):
    """What a repeated start must agree on, and all it sends to a running checkout: the order
    and its money terms, not the customer."""

    order_id: str
    amount: int
    plan_id: int | None = None
    auto_capture: bool = True
    capture: CaptureMode = "automatic"

    def summary(self) -> dict[str, object]:
        """The terms as operators read them: the order, not the person."""
        return {
            "order_id": self.order_id,
            "amount_pence": self.amount,
            "plan_id": self.plan_id,
            "auto_capture": self.auto_capture,
            "capture": self.capture,
        }


class CheckoutRequest(BaseModel):
    """Everything a checkout needs; the gateway fills the return and webhook URLs."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord-1001",
                    "amount": 49900,
                    "customer": {
                        "email": "ada@example.com",
                        "f_name": "Ada",
                        "s_name": "Lovelace",
                        "addr1": "1 Analytical Way",
                        "postcode": "AB1 2CD",
                    },
                    "description": "Bike service",
                }
            ]
        }
    )

    order_id: str = Field(
        pattern=ORDER_ID_PATTERN, description="the merchant's order: one checkout per order, ever"
    )
    amount: StrictInt = Field(gt=0, description="pence")
    customer: Customer = Field(description="the applicant (encrypted at rest, never logged)")
    description: str | None = Field(
        default=None, max_length=255, description="what is being bought, shown to the customer"
    )
    plan_id: Count | None = Field(
        default=None, description="the lender's plan; its default when absent"
    )
    reg_no: str | None = Field(
        default=None, max_length=255, description="vehicle registration, for plans that need one"
    )
    expiry_seconds: Count | None = Field(
        default=None,
        ge=1,
        le=MAX_WAIT_SECONDS,
        description="how long the lender keeps the application open",
    )
    preapproval: bool = Field(
        default=False,
        description="ask for pre-approval first; a declined customer is never sent to `/begin`",
    )
    auto_capture: bool = Field(
        default=True, description="the lender captures on approval by itself"
    )
    capture: CaptureMode = Field(
        default="automatic",
        description="`on_request`: wait for `POST .../capture` before capturing",
    )
    rename_order_to: str | None = Field(
        default=None,
        pattern=ORDER_ID_PATTERN,
        description="the order id the lender should show once completed",
    )
    success_url: str | None = Field(
        default=None,
        description="set by the gateway: where the customer returns (any value is replaced)",
    )
    failure_url: str | None = Field(
        default=None,
        description="set by the gateway: where the customer returns (any value is replaced)",
    )
    webhook_url: str | None = Field(
        default=None,
        description="set by the gateway: where the lender's webhooks go (any value is replaced)",
    )
    timing: CheckoutTiming = Field(
        default_factory=CheckoutTiming, description="how often `/status` is asked"
    )
    notify_url: NotifyUrl = None

    @model_validator(mode="after")
    def _begin_accepts_it(self) -> CheckoutRequest:
        """Refuse at the door what `/begin` could not be built from, never in the workflow."""
        try:
            self.begin_request()
        except ValidationError as error:
            problem = error.errors()[0]
            field = ".".join(str(part) for part in problem["loc"])
            raise ValueError(f"{field}: {problem['msg']}") from None
        return self

    def begin_request(self) -> BeginRequest:
        """What `/begin` is sent for this checkout."""
        return BeginRequest(
            order_id=self.order_id,
            amount=self.amount,
            **self.customer.model_dump(exclude_none=True),
            description=self.description,
            plan_id=self.plan_id,
            reg_no=self.reg_no,
            expiry=self.expiry_seconds,
            auto_capture=self.auto_capture,
            success_url=self.success_url,
            failure_url=self.failure_url,
            webhook_url=self.webhook_url,
        )

    def terms(self) -> CheckoutTerms:
        """What a repeated start must agree on (the free-text description stays out)."""
        return CheckoutTerms.model_validate(self, from_attributes=True)

    def summary(self) -> dict[str, object]:
        """The terms operators see in the Temporal UI: the order, not the person (not
        encrypted, so the free-text description stays out)."""
        return self.terms().summary()


class CheckoutStarted(BaseModel):
    """What the merchant's backend needs to send the customer to the lender."""

    order_id: str = Field(description="the merchant's order")
    token: str = Field(description="the lender's application token")
    url: str = Field(description="where to send the customer to complete the application")
    status: str = Field(description="the checkout's status when it answered")


class CustomerReturn(BaseModel):
    """A verified customer return: only a hint, confirmed with `/status`."""

    token: str
    status: str


class WebhookHint(BaseModel):
    """A verified webhook: only a hint, confirmed with `/status`."""

    token: str
    event_name: str
    event_time: str | None = None


class InvoiceDocument(BaseModel):
    """The merchant's invoice as sent to the API: an allowed type, base64, at most
    `MAX_INVOICE_BYTES` once decoded. It is stored outside Temporal (`payflow.documents`);
    workflows only ever see its `InvoiceReference`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"filetype": "txt", "data_base64": "SW52b2ljZSAxMDAxOiA0OTkuMDAgR0JQCg=="}]
        }
    )

    filetype: InvoiceFileType = Field(description="the document's type")
    data_base64: str = Field(
        min_length=4, description="the document, base64; stored outside Temporal"
    )

    @field_validator("data_base64")
    @classmethod
    def _must_be_base64(cls, value: str) -> str:
        if len(value) > MAX_INVOICE_BASE64:
            raise ValueError(f"the document is larger than the {MAX_INVOICE_BYTES} byte limit")
        try:
            content = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("data_base64 is not valid base64") from error
        if not content:
            raise ValueError("the document is empty")
        if len(content) > MAX_INVOICE_BYTES:
            raise ValueError(f"the document is larger than the {MAX_INVOICE_BYTES} byte limit")
        return value

    def content(self) -> bytes:
        """The document's bytes."""
        return base64.b64decode(self.data_base64)


class InvoiceReference(BaseModel):
    """A stored invoice document: what a checkout workflow holds instead of its bytes."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filetype: InvoiceFileType
    size: int = Field(ge=1, le=MAX_INVOICE_BYTES)


class OperatorResolution(OperatorDecision):
    """An operator's answer to a checkout in needs attention: the token found, or give up."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"}]}
    )

    token: str | None = Field(
        default=None,
        min_length=36,
        max_length=36,
        description="the lost application's token, checked with `/status` before it is attached",
    )
    close_reason: str | None = Field(
        default=None, max_length=500, description="close the checkout as failed, saying why"
    )


class TokenClaim(BaseModel):
    """Which checkout holds an application's token (one checkout per token, ever)."""

    token: str
    order_id: str


class HintRecord(BaseModel):
    """A return or webhook as received, kept for operators (only hints for this checkout)."""

    at: datetime = Field(description="when it arrived")
    kind: Literal["return", "webhook"] = Field(
        description="a customer's return or a lender's webhook"
    )
    detail: str = Field(description="the status or event it claimed (a hint, never the truth)")
    matched: bool = Field(default=True, description="whether it named this checkout's token")


class CheckoutView(BaseModel):
    """The whole state of one checkout, as the query and the HTTP API show it."""

    order_id: str = Field(description="the merchant's order")
    status: str = Field(description="where the checkout stands")
    amount: int = Field(description="in pence")
    token: str | None = Field(
        default=None, description="the lender's application token, once `/begin` answered"
    )
    url: str | None = Field(
        default=None, description="where the customer completes the application"
    )
    provider_status: str | None = Field(
        default=None, description="the lender's own status, as `/status` last said"
    )
    pa_ref: str | None = Field(
        default=None, description="the lender's reference for the application"
    )
    lender_amount: int | None = Field(
        default=None,
        description="the application's amount in pence as `/status` last reported it (None "
        "until read, or when it could not be read)",
    )
    requires_invoice: bool | None = Field(
        default=None,
        description="whether the lender needs the merchant's invoice before paying out",
    )
    has_invoice: bool | None = Field(default=None, description="whether the lender has the invoice")
    invoice_uploaded: bool = Field(default=False, description="whether we uploaded the invoice")
    capture_attempts: int = Field(default=0, description="capture requests sent to the lender")
    capture_error: str | None = Field(default=None, description="why the last capture failed")
    invoice_error: str | None = Field(
        default=None, description="why the last invoice upload failed"
    )
    renamed_to: str | None = Field(
        default=None, description="the order id the lender shows since the rename"
    )
    attention_reason: str | None = Field(default=None, description="why an operator must look")
    failure_reason: str | None = Field(default=None, description="why the checkout failed")
    status_checks: int = Field(default=0, description="`/status` calls the lender answered")
    last_checked_at: datetime | None = Field(
        default=None, description="when `/status` last answered"
    )
    needs_attention: bool = Field(default=False, description="whether an operator must look")
    calls_failing: str | None = Field(
        default=None, description="the lender's API failing since then, and why"
    )
    begin_attempts: int = Field(default=0, description="`/begin` calls made")
    claimed_token: str | None = Field(
        default=None, description="the token this checkout holds the claim on"
    )
    hints: list[HintRecord] = Field(
        default_factory=list, description="returns and webhooks as received (at most the latest 50)"
    )
    hints_coalesced: int = Field(
        default=0, description="hints that arrived while a status check was already due"
    )
    runs: int = Field(default=0, description="continue-as-new runs so far (history kept short)")
    journal: list[LifecycleEntry] = Field(
        default_factory=list, description="every move of the checkout, oldest first"
    )
    notifications: Outbox = Field(
        default_factory=Outbox, description="the merchant's events and their delivery"
    )
    recorded: LedgerMark = Field(
        default_factory=LedgerMark, description="how far the ledger of record has been written"
    )


HINT_LIMIT = 50
TOKEN_DIGEST = "token_sha256"
"""The memo field that binds returns and webhooks to their checkout without a worker."""


def token_digest(token: str) -> str:
    """What the memo shows of an application's token: enough to match it, not to use it."""
    return hashlib.sha256(token.encode()).hexdigest()


HintEffect = Literal["ignore", "count", "record", "defer"]
COALESCE_SECONDS = 5.0
"""A hint this soon after a `/status` check waits for the next one (unless it reports an end
the last check did not see): a return and a webhook for one event cost one check."""
FINAL_RETURNS = frozenset({"success", "failed"})
FINAL_EVENTS = frozenset({"application.completed", "application.failed", "application.expired"})
FINAL_PROVIDER_STATUSES = frozenset({"completed", "failed", "expired", "pending_capture"})
PROVIDER_EVENTS = {
    "pending_capture": "await_capture",
    "completed": "complete",
    "failed": "fail",
    "expired": "expire",
}


class CheckoutState(CheckoutView):
    """The whole checkout as its workflow keeps it and continue-as-new carries it; the query
    shows its public part (`view`)."""

    request: CheckoutRequest
    lifecycle: CheckoutLifecycle = Field(default_factory=CheckoutLifecycle)
    health: CallHealth = Field(default_factory=CallHealth)
    capture_wanted: bool = False
    cancel_wanted: bool = False
    cancel_sent: bool = False
    invoice: InvoiceReference | InvoiceDocument | None = Field(
        default=None,
        description="the stored document to upload (a whole document only in runs from before "
        "documents were stored outside Temporal)",
    )
    renamed: bool = Field(default=False, description="the rename after completion was tried")
    watch_until: datetime | None = None
    last_activity_at: datetime
    check_due: bool = Field(default=False, description="a hint or request asks for action now")
    check_at: datetime | None = Field(
        default=None, description="a hint asked for a check once the coalescing window closes"
    )
    hint_unconfirmed: bool = Field(
        default=False, description="a hint asked for a `/status` check that has not answered yet"
    )
    hint_failures: int = Field(
        default=0, description="failed `/status` checks since the hint that asked for them"
    )
    last_decision_at: datetime | None = Field(
        default=None, description="when the last operator decision taken here was made"
    )
    status_in_memo: bool = Field(
        default=True,
        description="the memo repeats status and attention (runs from before search attributes "
        "alone showed them)",
    )

    @classmethod
    def start(cls, request: CheckoutRequest, now: datetime) -> CheckoutState:
        """A fresh checkout for `request`, active from `now`."""
        return cls(
            order_id=request.order_id,
            status=CheckoutLifecycle().state,
            amount=request.amount,
            request=request,
            capture_wanted=request.capture == "automatic",
            last_activity_at=now,
            notifications=Outbox(url=request.notify_url),
        )

    def move(self, event: str, at: datetime, note: str | None = None) -> bool:
        """Offer `event` to the lifecycle; True when it moved (status kept in step)."""
        moved = self.lifecycle.offer(event, at, note)
        self.status = self.lifecycle.state
        return moved

    def hint_effect(self, token: str) -> HintEffect:
        """Another checkout's hint is dropped; one while a check is already due only counted."""
        if self.token is not None and token != self.token:
            return "ignore"
        return "count" if self.check_due else "record"

    def coalesced(self, effect: HintEffect, *, final: bool, now: datetime) -> HintEffect:
        """A hint to record, looked at again against the last check: within
        `COALESCE_SECONDS` of it, an end the check already saw is only counted, and a hint
        reporting no end waits for the next check (`defer`); anything else checks now."""
        if effect != "record" or self.last_checked_at is None:
            return effect
        if (now - self.last_checked_at).total_seconds() >= COALESCE_SECONDS:
            return effect
        seen_end = self.provider_status in FINAL_PROVIDER_STATUSES
        if final:
            return "count" if seen_end else "record"
        return "defer"

    def defer_check(self, hint: HintRecord) -> None:
        """Keep the hint for operators; the check it asks for runs when the window closes."""
        self.hints.append(hint)
        del self.hints[:-HINT_LIMIT]
        self.last_activity_at = hint.at
        assert self.last_checked_at is not None
        self.check_at = self.last_checked_at + timedelta(seconds=COALESCE_SECONDS)
        self._wait_for_answer()

    def record_hint(self, hint: HintRecord) -> None:
        """Keep the hint for operators (the latest few) and make a status check due."""
        self.hints.append(hint)
        del self.hints[:-HINT_LIMIT]
        self.last_activity_at = hint.at
        self.check_due = True
        self._wait_for_answer()

    def _wait_for_answer(self) -> None:
        """A new hint starts its own retries of the check it asks for."""
        self.hint_unconfirmed, self.hint_failures = True, 0

    def check_answered(self, answered: bool) -> None:
        """A `/status` check ended: an answer settles the hints before it, a failure counts
        against them (their retries back off)."""
        if answered:
            self.hint_unconfirmed, self.hint_failures = False, 0
        elif self.hint_unconfirmed:
            self.hint_failures += 1

    def invoice_outstanding(self) -> bool:
        """The lender requires an invoice that it neither has nor got from us."""
        return bool(self.requires_invoice) and not (self.has_invoice or self.invoice_uploaded)

    def invoice_done(self) -> bool:
        """The lender required an invoice and now has it."""
        return bool(self.requires_invoice) and not self.invoice_outstanding()

    def view(self) -> CheckoutView:
        """What operators and the API see: no request, invoice bytes or internal flags."""
        public = self.model_dump(include=set(CheckoutView.model_fields))
        public["journal"] = self.lifecycle.journal
        public["calls_failing"] = self.health.describe()
        return CheckoutView.model_validate(public)


def provider_event(provider_status: str, *, cancel_sent: bool) -> str | None:
    """The lifecycle event a `/status` answer asks for (None while the customer is busy)."""
    event = PROVIDER_EVENTS.get(provider_status)
    return "cancel" if event == "expire" and cancel_sent else event


BEFORE_COMPLETION = frozenset({"complete", "await_capture"})
"""Lifecycle events that finalise the money: the lender's amount must be the order's first."""


def amount_problem(event: str | None, reported: int | None, terms: int) -> str | None:
    """Why a `/status` read must not complete or capture the order: the lender reports another
    amount than the order's terms, or none that could be read (never complete on a guess)."""
    if event not in BEFORE_COMPLETION:
        return None
    if reported is None:
        return (
            f"the lender's /status gave no readable amount; the order is for {terms} pence: "
            "not completed on a guess"
        )
    if reported != terms:
        return (
            f"the lender's application is for {reported} pence, the order for {terms} pence: "
            "not completed at either amount until an operator decides"
        )
    return None
