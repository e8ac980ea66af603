"""A payout's lifecycle as pure rules: what `/v2/withdrawstatus` moves, and which moves are legal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from state.passimpay_withdrawal import WithdrawalLifecycle, WithdrawalStatus, approve_event

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
