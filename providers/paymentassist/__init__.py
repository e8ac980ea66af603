"""Payment Assist: request signing, typed models and the async client."""

from providers.paymentassist.client import DEMO_API_URL, LIVE_API_URL, PaymentAssistClient
from providers.paymentassist.models import (
    Account,
    ApplicationStatus,
    AppStatus,
    BeginRequest,
    BeginResult,
    CaptureResult,
    InvoiceFileType,
    InvoiceResult,
    Plan,
    PlanQuote,
    PreapprovalRequest,
    ScheduleEntry,
    UpdateResult,
)
from providers.paymentassist.signing import signature

__all__ = [
    "DEMO_API_URL",
    "LIVE_API_URL",
    "Account",
    "AppStatus",
    "ApplicationStatus",
    "BeginRequest",
    "BeginResult",
    "CaptureResult",
    "InvoiceFileType",
    "InvoiceResult",
    "PaymentAssistClient",
    "Plan",
    "PlanQuote",
    "PreapprovalRequest",
    "ScheduleEntry",
    "UpdateResult",
    "signature",
]
