"""Merchant-supplied intervals and windows have a floor and a ceiling: nonsense is refused with
the field's name, before anything starts."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from state.checkout_models import CheckoutRequest, CheckoutTiming
from state.passimpay_models import AddressTiming, InvoiceRequest, InvoiceTiming
from state.passimpay_withdrawal_models import WithdrawalRequest, WithdrawalTiming
from state.polling import MAX_POLL_SECONDS, MAX_WAIT_SECONDS, MIN_POLL_SECONDS

FIELDS = [
    (CheckoutTiming, "active_poll_seconds"),
    (CheckoutTiming, "idle_poll_seconds"),
    (CheckoutTiming, "invoice_poll_seconds"),
    (InvoiceTiming, "active_poll_seconds"),
    (InvoiceTiming, "idle_poll_seconds"),
    (AddressTiming, "confirm_poll_seconds"),
    (WithdrawalTiming, "active_poll_seconds"),
    (WithdrawalTiming, "idle_poll_seconds"),
]


@pytest.mark.parametrize(("model", "field"), FIELDS)
def test_a_poll_faster_than_the_floor_is_refused(model: type[BaseModel], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({field: 1e-9})
    assert field in str(refused.value) and str(MIN_POLL_SECONDS) in str(refused.value)
    assert getattr(model.model_validate({field: MIN_POLL_SECONDS}), field) == MIN_POLL_SECONDS


def _seconds_fields(model: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields if name.endswith("_seconds")]


MODELS = [
    CheckoutTiming, InvoiceTiming, AddressTiming, WithdrawalTiming,
    InvoiceRequest, WithdrawalRequest, CheckoutRequest,
]  # fmt: skip
TOO_LONG = [(model, name) for model in MODELS for name in _seconds_fields(model)]


@pytest.mark.parametrize(("model", "field"), TOO_LONG)
def test_a_wait_beyond_its_ceiling_is_refused(model: type[BaseModel], field: str) -> None:
    """`1e276` once reached a workflow timer and wedged the payout; every duration has a top."""
    for nonsense in (3.2e276, float("inf"), float("nan")):
        with pytest.raises(ValidationError) as refused:
            model.model_validate({field: nonsense})
        assert field in str(refused.value)
    ceiling = MAX_POLL_SECONDS if "poll" in field and "window" not in field else MAX_WAIT_SECONDS
    with pytest.raises(ValidationError) as beyond:
        model.model_validate({field: ceiling * 1.001})
    assert field in str(beyond.value)
