"""Merchant events: recorded once per change, in order; signed so only the secret's holder
could have sent them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payflow.notifications import (
    InvalidSignature,
    event_body,
    signature,
    signature_header,
    verify_event,
)
from state.notifications import OUTBOX_LIMIT, Outbox

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SECRET = "whsec-0123456789"


def record(outbox: Outbox, status: str, attention: bool = False, n: int = 0) -> object:
    return outbox.record(
        event_id=f"evt-{outbox.recorded + 1}-{n}",
        at=AT,
        provider="paymentassist",
        flow="checkout",
        order_id="ord-1",
        status=status,
        needs_attention=attention,
    )


def test_one_event_per_change_in_sequence() -> None:
    outbox = Outbox(url="https://merchant.example/hooks")
    record(outbox, "awaiting_customer")
    assert record(outbox, "awaiting_customer") is None  # nothing changed
    record(outbox, "awaiting_customer", attention=True)
    record(outbox, "awaiting_customer", attention=False)
    record(outbox, "completed")
    events = [entry.event for entry in outbox.entries]
    assert [e.type for e in events] == [
        "checkout.awaiting_customer",
        "checkout.attention_required",
        "checkout.attention_cleared",
        "checkout.completed",
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    assert events[0].data.previous_status is None
    assert events[3].data.previous_status == "awaiting_customer"
    assert outbox.next_pending() is outbox.entries[0]


def test_no_url_records_nothing() -> None:
    outbox = Outbox()
    assert record(outbox, "completed") is None and outbox.entries == []


def test_settled_events_are_trimmed_oldest_first_pending_never() -> None:
    outbox = Outbox(url="https://merchant.example/hooks")
    for i in range(OUTBOX_LIMIT + 5):
        record(outbox, f"s{i}")
    first = outbox.entries[0]
    outbox.settle(first, at=AT, attempts=1)
    assert first not in outbox.entries  # over the limit: the settled one goes first
    assert len(outbox.entries) == OUTBOX_LIMIT + 4  # pending ones are never dropped
    for entry in list(outbox.entries):
        if entry.delivery == "pending":
            outbox.settle(entry, at=AT, attempts=2)
    assert len(outbox.entries) == OUTBOX_LIMIT
    assert outbox.entries[-1].event.sequence == OUTBOX_LIMIT + 5
    given_up = Outbox(url="https://m.example")
    record(given_up, "open")
    given_up.settle(given_up.entries[0], at=AT, attempts=0, error="answered 500")
    assert given_up.entries[0].delivery == "failed" and given_up.next_pending() is None


def test_signature_published_form() -> None:
    """HMAC-SHA256 over `<t>.<body>`: the value any merchant can recompute by hand."""
    expected = "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
    assert signature("secret", 1700000000, b'{"a":1}') == expected


def test_verify_accepts_what_was_signed_and_nothing_else() -> None:
    outbox = Outbox(url="https://merchant.example/hooks")
    event = record(outbox, "completed")
    assert event is not None
    body = event_body(event)  # type: ignore[arg-type]
    now = 1_800_000_000.0
    header = signature_header(SECRET, body, now=now)
    assert verify_event(body, header, SECRET, now=now + 10) == event
    assert verify_event(body, header, ["old-secret", SECRET], now=now) == event  # rotation
    with pytest.raises(InvalidSignature):
        verify_event(body.replace(b"completed", b"cancelled"), header, SECRET, now=now)
    with pytest.raises(InvalidSignature):
        verify_event(body, header, "another-secret", now=now)
    with pytest.raises(InvalidSignature):
        verify_event(body, header, SECRET, now=now + 301)  # replayed later
    with pytest.raises(InvalidSignature):
        verify_event(body, "v1=abc", SECRET, now=now)
    with pytest.raises(InvalidSignature):
        verify_event(b"{}", signature_header(SECRET, b"{}", now=now), SECRET, now=now)
