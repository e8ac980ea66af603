"""A payout's lifecycle as pure rules: what `/v2/withdrawstatus` moves, and which moves are legal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from state.passimpay_withdrawal import (
    WithdrawalLifecycle,
    WithdrawalStatus,
    approve_event,
    operator_retry,
)
from state.passimpay_withdrawal_models import WithdrawalRequest, currency_chain, currency_label

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("approve", "event"), [(0, None), (1, "settle"), (2, "fail")])
def test_only_a_final_approve_code_moves_a_payout(approve: int, event: str | None) -> None:
    assert approve_event(approve) == event


def test_paid_and_failed_are_sticky_and_a_retry_comes_only_from_an_unknown_outcome() -> None:
    lifecycle = WithdrawalLifecycle()
    for event in ("validate", "dispatch", "doubt"):
        assert lifecycle.offer(event, T0)
    assert lifecycle.state == WithdrawalStatus.OUTCOME_UNKNOWN
    assert lifecycle.offer("retry", T0) and lifecycle.state == WithdrawalStatus.SENDING
    assert lifecycle.offer("accept", T0) and lifecycle.offer("settle", T0)
    assert not lifecycle.offer("fail", T0) and not lifecycle.offer("retry", T0)
    assert lifecycle.state == WithdrawalStatus.PAID and lifecycle.is_final
    assert [entry.target for entry in lifecycle.journal[-2:]] == [None, None]  # ignored, kept


def test_the_providers_record_is_compared_in_the_chains_one_spelling() -> None:
    eth = "0x52908400098527886E0F7030069857D2E4169EE7"
    request = WithdrawalRequest(order_id="wd-1", payment_id=60, address_to=eth, amount=Decimal(1))
    assert currency_chain(currency_label("ETH", "ETH")) == "ETH"
    assert currency_chain(currency_label("USDT", "Unknown net")) == "USDT"
    assert currency_chain(None) is None
    lower = eth.lower()
    assert request.differs_from(60, lower, Decimal(1)) is not None  # as text: another payout
    assert request.differs_from(60, lower, Decimal(1), chain="ETH", canonical=True) is None
    assert request.differs_from(60, lower, Decimal(2), chain="ETH", canonical=True)
    tron = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
    on_tron = request.model_copy(update={"address_to": tron})
    assert on_tron.differs_from(60, tron.lower(), None, chain="TRC20", canonical=True)


def test_an_operators_retry_is_sent_only_when_a_fresh_read_does_not_find_the_payout() -> None:
    assert operator_retry("not_found") == "resend"
    assert operator_retry("found") == "follow"  # pending or paid: never a second payout
    assert operator_retry("unreadable") == "hold"  # stays with the operator
