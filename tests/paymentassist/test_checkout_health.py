"""Pure decisions of a checkout: when a failed call may be resent, when calls fail too long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.checkout_health import (
    CallHealth,
    attention_poll_delay,
    hint_retry_delay,
    never_sent,
    not_sent_delay,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_only_provably_unsent_attempts_may_be_resent() -> None:
    assert never_sent("NotSent", timed_out=False, marks=())
    assert never_sent(None, timed_out=True, marks=())  # lost before it could mark the send
    assert not never_sent(None, timed_out=True, marks=("sending",))  # may have left
    assert not never_sent("MaybeSent", timed_out=False, marks=())
    assert not never_sent("Refused", timed_out=False, marks=())
    assert not never_sent(None, timed_out=False, marks=())  # any other failure: unknown


def test_health_flags_after_the_bound_and_clears_on_success() -> None:
    health = CallHealth()
    assert not health.overdue(T0, 600) and health.describe() is None
    health.failed(T0, "/status: HTTP 503")
    health.failed(T0 + timedelta(seconds=300), "/status: HTTP 503")
    assert not health.overdue(T0 + timedelta(seconds=599), 600)
    assert health.overdue(T0 + timedelta(seconds=600), 600)
    assert health.describe() and "2 failed" in health.describe()  # type: ignore[operator]
    health.succeeded()
    assert not health.overdue(T0 + timedelta(days=1), 600) and health.failures == 0


def test_resend_backoff_is_capped() -> None:
    assert [not_sent_delay(n) for n in (1, 2, 3, 6, 50)] == [1.0, 2.0, 4.0, 30.0, 30.0]


def test_a_hints_failed_check_is_retried_soon_then_at_the_poll_pace() -> None:
    assert [hint_retry_delay(n, 30.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert hint_retry_delay(3, 2.5) == 2.5  # never slower than the poll itself


def test_a_checkout_that_needs_an_operator_reads_with_bounded_backoff() -> None:
    assert [attention_poll_delay(n, 0.5, 5.0) for n in (1, 2, 3, 4, 5, 40)] == [
        0.5, 1.0, 2.0, 4.0, 5.0, 5.0
    ]  # fmt: skip
    assert attention_poll_delay(0, 0.5, 5.0) == 5.0  # answering, still flagged: the idle pace
