"""Custom search attributes every payflow workflow sets, so operators can filter in the UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PAYMENT_PROVIDER = SearchAttributeKey.for_keyword("PaymentProvider")
PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")

ALL_KEYS = (PAYMENT_PROVIDER, PAYMENT_STATUS, ORDER_ID)
SEARCH_ATTRIBUTE_TYPES = {key.name: "Keyword" for key in ALL_KEYS}
