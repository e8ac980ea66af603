"""Passimpay (crypto payments, API v2): signed client, typed models, callback verification."""

from providers.passimpay.callbacks import InvalidSignature, UnusableCallback, parse_callback
from providers.passimpay.client import NotFound, PassimpayClient
from providers.passimpay.models import (
    Balance,
    CreateOrderRequest,
    Currency,
    DepositAddress,
    DepositCallback,
    InvoiceLink,
    OrderStatus,
    OrderStatusV3,
    WithdrawCallback,
    WithdrawRequest,
    WithdrawResult,
    WithdrawStatus,
)
from providers.passimpay.signing import signature, verify
from providers.passimpay.validation import validate_order_id, validate_withdraw_address

__all__ = [
    "Balance",
    "CreateOrderRequest",
    "Currency",
    "DepositAddress",
    "DepositCallback",
    "InvalidSignature",
    "InvoiceLink",
    "NotFound",
    "OrderStatus",
    "OrderStatusV3",
    "PassimpayClient",
    "UnusableCallback",
    "WithdrawCallback",
    "WithdrawRequest",
    "WithdrawResult",
    "WithdrawStatus",
    "parse_callback",
    "signature",
    "validate_order_id",
    "validate_withdraw_address",
    "verify",
]
