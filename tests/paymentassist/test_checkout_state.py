"""The checkout's carried state, without Temporal: which hints count, what `/status` moves."""

from __future__ import annotations

from datetime import UTC, datetime

from state.checkout_models import CheckoutState, HintRecord, provider_event
from tests.flows.helpers import checkout_request

NOW = datetime(2026, 1, 1, tzinfo=UTC)


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
