"""What operators see of a workflow in the Temporal UI: search attributes and memo."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from payflow.search_attributes import (
        NEEDS_ATTENTION,
        ORDER_ID,
        PAYMENT_PROVIDER,
        PAYMENT_STATUS,
    )


def publish_identity(provider: str, order_id: str, status: str) -> None:
    """Set the attributes every payment workflow carries from its first task."""
    workflow.upsert_search_attributes(
        [
            PAYMENT_PROVIDER.value_set(provider),
            ORDER_ID.value_set(order_id),
            PAYMENT_STATUS.value_set(status),
            NEEDS_ATTENTION.value_set(False),
        ]
    )


def publish_status(status: str, *, needs_attention: bool = False) -> None:
    """Mirror the lifecycle's state (and whether an operator must look) into visibility."""
    workflow.upsert_search_attributes(
        [PAYMENT_STATUS.value_set(status), NEEDS_ATTENTION.value_set(needs_attention)]
    )
    workflow.upsert_memo({"status": status, "needs_attention": needs_attention})
