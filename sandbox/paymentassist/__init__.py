"""Payment Assist simulator: the provider's API, customer page and webhooks, with faults."""

from sandbox.paymentassist.faults import FailMode, PaymentAssistFaults
from sandbox.paymentassist.frontdoor import FrontDoor, front_door
from sandbox.paymentassist.sandbox import PaymentAssistSandbox
from sandbox.paymentassist.store import Application
from sandbox.paymentassist.variants import StatusVariants
from sandbox.paymentassist.webhooks import WebhookDelivery

__all__ = [
    "Application",
    "FailMode",
    "FrontDoor",
    "PaymentAssistFaults",
    "PaymentAssistSandbox",
    "StatusVariants",
    "WebhookDelivery",
    "front_door",
]
