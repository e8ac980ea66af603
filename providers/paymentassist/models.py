"""Typed requests and responses of the Payment Assist API; amounts are int pence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from providers.paymentassist.lenient import (
    lenient_bool,
    lenient_datetime,
    lenient_pence,
    lenient_text,
    status_word,
)

InvoiceFileType = Literal["pdf", "html", "txt", "doc", "xls"]

Text = Annotated[str, Field(min_length=1, max_length=255)]
OptionalText = Annotated[str, Field(max_length=255)]
Pence = Annotated[StrictInt, Field(gt=0)]
Seconds = Annotated[StrictInt, Field(ge=0)]
PositiveId = Annotated[StrictInt, Field(gt=0)]
Email = Annotated[str, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class AppStatus(StrEnum):
    """Application statuses, with `in_progress` normalised to `in progress`."""

    PENDING = "pending"
    IN_PROGRESS = "in progress"
    PENDING_CAPTURE = "pending_capture"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Terminal statuses never change again."""
        return self in (AppStatus.COMPLETED, AppStatus.FAILED, AppStatus.EXPIRED)


Status = Annotated[AppStatus, BeforeValidator(status_word)]
LenientDatetime = Annotated[dt.datetime | None, BeforeValidator(lenient_datetime)]
LenientText = Annotated[str | None, BeforeValidator(lenient_text)]
LenientPence = Annotated[int | None, BeforeValidator(lenient_pence)]
LenientBool = Annotated[bool | None, BeforeValidator(lenient_bool)]


class _Request(BaseModel):
    """Strict request model, re-validated whenever the client receives an instance."""

    model_config = ConfigDict(extra="forbid", revalidate_instances="always", frozen=True)


class _Response(BaseModel):
    """Lenient response model: unknown fields are ignored so new provider fields never break us."""

    model_config = ConfigDict(extra="ignore")


class PreapprovalRequest(_Request):
    """Customer details for a soft eligibility check before `/begin`."""

    f_name: Text
    s_name: Text
    addr1: Text
    postcode: Text


class BeginRequest(_Request):
    """Everything `/begin` accepts; strings are sent exactly as given."""

    order_id: Text
    amount: Pence
    email: Email
    f_name: Text
    s_name: Text
    addr1: Text
    postcode: Text
    failure_url: OptionalText | None = None
    success_url: OptionalText | None = None
    webhook_url: OptionalText | None = None
    plan_id: PositiveId | None = None
    reg_no: OptionalText | None = None
    description: OptionalText | None = None
    expiry: Seconds | None = None
    addr2: OptionalText | None = None
    addr3: OptionalText | None = None
    town: OptionalText | None = None
    county: OptionalText | None = None
    telephone: OptionalText | None = None
    dob: dt.date | None = None
    send_email: StrictBool | None = None
    send_sms: StrictBool | None = None
    multi_plan: StrictBool | None = None
    qr_code: StrictBool | None = None
    auto_capture: StrictBool | None = None


class PlanRequest(_Request):
    """Inputs of a `/plan` quote."""

    amount: Pence
    plan_id: PositiveId | None = None
    plan_length: PositiveId | None = None


class TokenRequest(_Request):
    """Any call addressed to one application by its token."""

    token: Text


class UpdateRequest(_Request):
    """Changes `/update` may apply; the provider decides which are legal in the current state."""

    token: Text
    order_id: Text | None = None
    expiry: Seconds | None = None
    amount: Pence | None = None


class InvoiceRequest(_Request):
    """An invoice document for `/invoice`, already base64-encoded."""

    token: Text
    filetype: InvoiceFileType
    filedata: Annotated[str, Field(min_length=1)]


class Plan(_Response):
    """One finance plan the account may offer."""

    plan_id: int
    name: str
    instalments: int
    deposit: bool = False
    apr: Decimal = Decimal(0)
    frequency: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    commission_rate: Decimal | None = None
    commission_fixed_fee: int | None = None


class Account(_Response):
    """The dealer account and the plans it offers."""

    legal_name: str
    display_name: str
    plans: list[Plan] = []


class ScheduleEntry(_Response):
    """One repayment of a plan quote."""

    date: dt.date
    amount: int


class PlanQuote(_Response):
    """What the customer would repay under a plan."""

    plan: str
    amount: int
    interest: int
    repayable: int
    schedule: list[ScheduleEntry] = []


class BeginResult(_Response):
    """The token (the only handle on the application) and where to send the customer."""

    token: str
    url: str
    qr_code: str | None = None


class ApplicationStatus(_Response):
    """The provider's view of an application: the source of truth.

    Only `token` and `status` are required; every other field is read leniently (the provider
    leaves their formats open), and an unreadable value becomes None rather than a failure.
    """

    token: Annotated[str, Field(min_length=1)]
    status: Status
    amount: LenientPence = None
    expires_at: LenientDatetime = None
    pa_ref: LenientText = None
    requires_invoice: LenientBool = False
    has_invoice: LenientBool = False
    last_accessed_at: LenientDatetime = None


class UpdateResult(_Response):
    """The token plus whichever fields were changed."""

    model_config = ConfigDict(extra="allow")

    token: str


class CaptureResult(_Response):
    """Outcome of `/capture`; `status` stays `pending_capture` when the deposit failed."""

    token: str
    status: Status
    deposit_captured: LenientBool = None
    deposit_reason: str | None = None


class InvoiceResult(_Response):
    """Whether the provider accepted the uploaded invoice."""

    token: str
    upload_status: Literal["success", "failed"]
