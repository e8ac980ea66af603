"""A repeated start joins a running payment only on the terms it was started with."""

from __future__ import annotations

from typing import Protocol

from temporalio.exceptions import ApplicationError

from state.terms import TERMS_CONFLICT, differing_terms


class Summarized(Protocol):
    """A start request: its order and the terms its memo records."""

    @property
    def order_id(self) -> str: ...

    def summary(self) -> dict[str, object]: ...


def refuse_other_terms(payment: str, kept: Summarized, asked: Summarized) -> None:
    """In a start validator: refuse another order's request, or one on other terms (`payment`
    names it with its article: "a checkout", "an invoice")."""
    if asked.order_id != kept.order_id:
        raise ValueError(f"this {payment.split()[-1]} is order {kept.order_id}'s")
    changed = differing_terms(kept.summary(), asked.summary())
    if changed:  # validators do not run on replay: refusing more changes no history
        raise ApplicationError(
            f"order {kept.order_id} already has {payment} with other terms: {changed}",
            type=TERMS_CONFLICT,
        )
