"""Custom search attributes every payflow workflow sets, so operators can filter in the UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PAYMENT_PROVIDER = SearchAttributeKey.for_keyword("PaymentProvider")
PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
NEEDS_ATTENTION = SearchAttributeKey.for_bool("NeedsAttention")
PAYMENT_TOKEN_DIGEST = SearchAttributeKey.for_keyword("PaymentTokenDigest")
"""A Payment Assist checkout's token digest (never the token): hints are bound by it, and an
operator's attach finds another checkout already showing it."""

SEARCH_ATTRIBUTE_TYPES = {
    PAYMENT_PROVIDER.name: "Keyword",
    PAYMENT_STATUS.name: "Keyword",
    ORDER_ID.name: "Keyword",
    NEEDS_ATTENTION.name: "Bool",
    PAYMENT_TOKEN_DIGEST.name: "Keyword",
}
