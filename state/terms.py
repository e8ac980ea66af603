"""The terms a payment was started on, compared with those of a repeated start."""

from __future__ import annotations

from collections.abc import Mapping

TERMS_CONFLICT = "TermsConflict"
"""The failure type a start validator refuses with when the order's payment has other terms."""


def differing_terms(kept: Mapping[str, object], asked: Mapping[str, object]) -> str | None:
    """What a repeated start (`asked`, a request's summary) would change in the payment's own
    summary or memo (`kept`); None when nothing: joining is safe only on the same terms."""
    changed = [
        f"{key} {asked[key]!r} instead of {kept[key]!r}"
        for key in asked
        if key != "order_id" and key in kept and kept[key] != asked[key]
    ]
    return "; ".join(changed) or None
