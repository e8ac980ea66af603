"""Merchant-supplied polling intervals have a floor: nonsense is refused with the field's name."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from state.checkout_models import CheckoutTiming
from state.passimpay_models import AddressTiming, InvoiceTiming
from state.passimpay_withdrawal_models import WithdrawalTiming
from state.polling import MIN_POLL_SECONDS

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
