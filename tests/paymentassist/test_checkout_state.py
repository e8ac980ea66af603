"""The checkout's carried state, without Temporal: which hints count, what `/status` moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio import workflow

from payflow.converter import PAYLOAD_CONVERTER
from state.checkout import QUIET, CheckoutStatus, quiet_change
from state.checkout_models import (
    COALESCE_SECONDS,
    CheckoutRequest,
    CheckoutState,
    CheckoutTerms,
    CheckoutTiming,
    HintRecord,
    amount_problem,
    provider_event,
)
from tests.flows.helpers import checkout_request
from workflows.paymentassist_checkout_v2 import PaymentAssistCheckoutV2

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TOKEN = "3c6b1f2a-0000-4000-8000-000000000001"


def state_with_token(token: str | None = "tok-1") -> CheckoutState:
    """A fresh checkout that holds `token`."""
    state = CheckoutState.start(checkout_request(), NOW)
    state.token = token
    return state


def test_another_checkouts_hint_is_ignored_and_duplicates_only_counted() -> None:
    state = state_with_token()
    assert state.hint_effect("tok-other") == "ignore"
    assert state.hint_effect("tok-1") == "record"
    state.record_hint(HintRecord(at=NOW, kind="return", detail="status=success"))
    assert state.check_due and state.hint_effect("tok-1") == "count"


def test_hints_before_the_token_is_known_are_kept_for_operators() -> None:
    assert state_with_token(None).hint_effect("tok-lost") == "record"


def test_recorded_hints_stay_few() -> None:
    state = state_with_token()
    for _ in range(120):
        state.record_hint(HintRecord(at=NOW, kind="webhook", detail="x"))
    assert len(state.hints) == 50


def test_status_words_map_to_lifecycle_events() -> None:
    assert provider_event("pending", cancel_sent=False) is None
    assert provider_event("in progress", cancel_sent=True) is None
    assert provider_event("pending_capture", cancel_sent=False) == "await_capture"
    assert provider_event("completed", cancel_sent=True) == "complete"
    assert provider_event("expired", cancel_sent=False) == "expire"
    assert provider_event("expired", cancel_sent=True) == "cancel"


def test_the_view_leaves_out_the_request_and_keeps_the_journal() -> None:
    state = state_with_token()
    assert state.move("begin", NOW)
    view = state.view()
    assert type(view).__name__ == "CheckoutView" and view.status == "awaiting_customer"
    assert view.journal[-1].target == "awaiting_customer"
    assert "request" not in view.model_dump()


def test_the_carried_state_round_trips_through_json() -> None:
    state = state_with_token()
    state.move("begin", NOW)
    copy = CheckoutState.model_validate_json(state.model_dump_json())
    assert copy == state and copy.lifecycle.state == "awaiting_customer"


def test_the_terms_are_what_the_summary_reports_and_hold_no_customer() -> None:
    request = checkout_request(plan_id=7, auto_capture=False, capture="on_request")
    assert request.summary() == request.terms().summary()
    assert request.summary() == {
        "order_id": request.order_id,
        "amount_pence": 49_900,
        "plan_id": 7,
        "auto_capture": False,
        "capture": "on_request",
    }
    assert request.customer.email not in request.terms().model_dump_json()


@pytest.mark.parametrize("lean", [False, True], ids=["whole request", "terms"])
def test_begin_of_the_current_type_reads_a_whole_request_as_one(lean: bool) -> None:
    """V2 runs started before the lean start sent `begin` the whole request: it must still
    decode as one, with the argument type the SDK reads from the handler."""
    [hint] = (
        workflow._Definition.must_from_class(PaymentAssistCheckoutV2).updates["begin"].arg_types
    )
    request = checkout_request()
    sent = request.terms() if lean else request
    converter = PAYLOAD_CONVERTER.payload_converter
    [decoded] = converter.from_payloads(converter.to_payloads([sent]), [hint])
    assert type(decoded) is (CheckoutTerms if lean else CheckoutRequest)
    assert decoded == sent


def test_the_active_poll_backs_off_while_the_customer_is_on_the_lenders_page() -> None:
    timing = CheckoutTiming()
    waited = [0, 29, 30, 60, 120, 240, 299, 600, 1799, 1800, 86_400]
    assert [timing.interval(seconds) for seconds in waited] == [
        30,
        30,
        30,
        60,
        120,
        240,
        299,
        300,
        300,
        300,
        300,
    ]
    assert CheckoutTiming(active_poll_seconds=0.3, idle_poll_seconds=0.3).interval(50) == 0.3
    assert CheckoutTiming(active_poll_seconds=60, idle_poll_seconds=10).interval(500) == 60


def checked_state(provider_status: str, checked_seconds_ago: float) -> CheckoutState:
    state = CheckoutState.start(checkout_request(), NOW)
    state.token = TOKEN
    state.provider_status = provider_status
    state.last_checked_at = NOW - timedelta(seconds=checked_seconds_ago)
    return state


@pytest.mark.parametrize(
    ("provider_status", "ago", "final", "effect"),
    [
        ("completed", 1, True, "count"),  # an end the last check already saw
        ("in progress", 1, True, "record"),  # an end the last check did not see: check now
        ("in progress", 1, False, "defer"),  # nothing new: the next check answers it
        ("in progress", 6, False, "record"),  # the window has closed
        ("completed", 6, True, "record"),
    ],
)
def test_hints_soon_after_a_check_are_coalesced(
    provider_status: str, ago: float, final: bool, effect: str
) -> None:
    state = checked_state(provider_status, ago)
    assert state.coalesced(state.hint_effect(TOKEN), final=final, now=NOW) == effect


def test_a_deferred_hint_is_checked_when_the_window_closes() -> None:
    state = checked_state("in progress", 1)
    state.defer_check(HintRecord(at=NOW, kind="return", detail="status=pending"))
    assert state.check_at == NOW + timedelta(seconds=COALESCE_SECONDS - 1)
    assert not state.check_due and state.hints[-1].detail == "status=pending"
    assert state.coalesced("ignore", final=False, now=NOW) == "ignore"


def test_only_a_change_that_moves_no_money_ends_nothing_and_alerts_nobody_is_quiet() -> None:
    assert quiet_change(CheckoutStatus.AWAITING_CUSTOMER, needs_attention=False)
    assert quiet_change(CheckoutStatus.CREATED, needs_attention=False)
    assert not quiet_change(CheckoutStatus.AWAITING_CUSTOMER, needs_attention=True)
    for status in set(CheckoutStatus) - QUIET:
        assert not quiet_change(status, needs_attention=False), status


def test_the_lenders_amount_must_be_the_orders_before_anything_completes() -> None:
    assert amount_problem("complete", 49_900, 49_900) is None
    assert amount_problem("await_capture", 49_900, 49_900) is None
    lowered = amount_problem("complete", 30_000, 49_900)
    assert lowered and "30000 pence" in lowered and "49900 pence" in lowered
    assert amount_problem("await_capture", 30_000, 49_900)
    unread = amount_problem("complete", None, 49_900)  # a format we could not read
    assert unread and "no readable amount" in unread
    assert amount_problem(None, None, 49_900) is None  # the customer is still busy
    assert amount_problem("fail", 1, 49_900) is None


def test_a_hint_waits_for_an_answer_and_counts_failed_checks() -> None:
    state = state_with_token()
    state.check_answered(False)
    assert state.hint_failures == 0  # no hint waiting: the poll's own pace
    state.record_hint(HintRecord(at=NOW, kind="return", detail="status=success"))
    state.check_answered(False)
    state.check_answered(False)
    assert state.hint_unconfirmed and state.hint_failures == 2
    state.record_hint(HintRecord(at=NOW, kind="webhook", detail="application.completed"))
    assert state.hint_failures == 0  # a new hint starts its own retries
    state.check_answered(True)
    assert not state.hint_unconfirmed and state.hint_failures == 0
