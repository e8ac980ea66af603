"""The gate's rules without Temporal: one lease active at a time, waits chosen by how the last
request ended, expiry on the gate's own timer, nothing sent after a turn was taken back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.withdraw_gate import (
    ARM_GRACE,
    LEASE_EXPIRY,
    TURN_TIMEOUT,
    WAIT_AFTER_DOUBT,
    WAIT_AFTER_REPLY,
    Fate,
    GateState,
    LeaseRef,
    Release,
    Ticket,
    lease_ref,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ticket(order: str, attempt: int = 1) -> Ticket:
    return Ticket(order_id=order, workflow_id=f"wf:{order}", attempt=attempt)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_tickets_are_called_in_order_and_once() -> None:
    gate = GateState(platform_id=1)
    assert gate.enqueue(ticket("a")) and gate.enqueue(ticket("b"))
    assert not gate.enqueue(ticket("a"))  # a retried enqueue changes nothing
    first = gate.call_next(at(0))
    assert first is not None and first.ticket.order_id == "a"
    assert gate.call_next(at(0)) is None  # one called ticket at a time
    assert not gate.enqueue(ticket("a"))  # still held, not queued twice


def test_only_one_lease_is_active_and_the_next_waits_after_the_reply() -> None:
    gate = GateState(platform_id=1)
    for order in ("a", "b"):
        gate.enqueue(ticket(order))
    a = gate.call_next(at(0))
    assert a is not None and gate.can_promote(a.lease_id)
    first = gate.promote(at(0.1))
    assert first.wait_seconds == WAIT_AFTER_DOUBT  # a fresh gate knows nothing of the past
    b = gate.call_next(at(0.2))
    assert b is not None and not gate.can_promote(b.lease_id)  # a still holds the platform
    assert gate.release(Release(lease_id=a.lease_id, fate=Fate.REPLIED))
    assert gate.can_promote(b.lease_id)
    assert gate.promote(at(1.3)).wait_seconds == WAIT_AFTER_REPLY
    assert WAIT_AFTER_REPLY > 1.0 and gate.fate(a.lease_id) is Fate.REPLIED


def test_no_reply_and_expiry_make_the_next_wait_longer() -> None:
    gate = GateState(platform_id=1)
    for order in ("a", "b", "c"):
        gate.enqueue(ticket(order))
    a = gate.call_next(at(0))
    assert a is not None
    gate.promote(at(0))
    gate.release(Release(lease_id=a.lease_id, fate=Fate.NO_REPLY))
    b = gate.call_next(at(1))
    assert b is not None
    assert gate.promote(at(0.5)).wait_seconds == WAIT_AFTER_DOUBT
    assert gate.renew(b.lease_id, at(1)) is not None  # armed: a write may follow
    assert gate.next_deadline() == at(1 + LEASE_EXPIRY)
    assert gate.expire(at(1 + LEASE_EXPIRY - 0.001)) == []  # not before the gate's own timer
    assert gate.expire(at(1 + LEASE_EXPIRY))
    assert gate.fate(b.lease_id) is Fate.EXPIRED and gate.fate(b.lease_id).maybe_sent
    late = gate.release(Release(lease_id=b.lease_id, fate=Fate.REPLIED))
    assert not late and gate.fate(b.lease_id) is Fate.EXPIRED  # a late report changes nothing
    c = gate.call_next(at(30))
    assert c is not None and gate.promote(at(30)).wait_seconds == WAIT_AFTER_DOUBT


def test_not_sent_keeps_the_wait_of_the_last_real_send() -> None:
    gate = GateState(platform_id=1, wait_next=WAIT_AFTER_DOUBT)
    gate.enqueue(ticket("a"))
    gate.enqueue(ticket("b"))
    a = gate.call_next(at(0))
    assert a is not None
    gate.promote(at(0))
    gate.release(Release(lease_id=a.lease_id, fate=Fate.NOT_SENT))
    assert gate.wait_next == WAIT_AFTER_DOUBT and not gate.fate(a.lease_id).maybe_sent


def test_a_turn_nobody_takes_is_taken_back_and_can_never_be_granted() -> None:
    gate = GateState(platform_id=1)
    gate.enqueue(ticket("a"))
    a = gate.call_next(at(0))
    assert a is not None
    assert gate.next_deadline() == at(TURN_TIMEOUT)
    assert gate.expire(at(TURN_TIMEOUT))
    assert not gate.is_called(a.lease_id) and gate.renew(a.lease_id, at(31)) is None
    assert gate.fate(a.lease_id) is Fate.NOT_SENT


def test_revoke_only_takes_back_a_lease_that_was_never_granted() -> None:
    gate = GateState(platform_id=1)
    gate.enqueue(ticket("a"))
    a = gate.call_next(at(0))
    assert a is not None
    gate.promote(at(0))
    assert not gate.revoke(a.lease_id)  # granted: only its holder's end or arming decides
    renewed = gate.renew(a.lease_id, at(4))
    assert renewed is not None and gate.next_deadline() == at(4 + LEASE_EXPIRY)
    assert not gate.end_unarmed(a.lease_id)  # armed: it may be writing, wait for its end
    assert gate.is_open(a.lease_id)


def test_a_granted_lease_never_armed_ends_as_not_sent() -> None:
    gate = GateState(platform_id=1, wait_next=WAIT_AFTER_REPLY)
    for order in ("a", "b"):
        gate.enqueue(ticket(order))
    a = gate.call_next(at(0))
    assert a is not None
    gate.promote(at(0))
    assert gate.end_unarmed(a.lease_id)  # its sender died before arming: nothing was written
    assert gate.fate(a.lease_id) is Fate.NOT_SENT and gate.renew(a.lease_id, at(1)) is None
    b = gate.call_next(at(1))
    assert b is not None
    gate.promote(at(1))
    assert gate.next_deadline() == at(1 + WAIT_AFTER_REPLY + ARM_GRACE)  # not LEASE_EXPIRY
    assert gate.expire(at(1 + WAIT_AFTER_REPLY + ARM_GRACE))  # silent, never armed: not sent
    assert gate.fate(b.lease_id) is Fate.NOT_SENT and gate.wait_next == WAIT_AFTER_REPLY


def test_an_outcome_too_old_to_remember_counts_as_maybe_sent() -> None:
    assert GateState(platform_id=1).fate(12345).maybe_sent


def test_a_restarted_gate_never_takes_an_old_lease_for_one_of_its_own() -> None:
    old = GateState(platform_id=1, epoch="run-a")
    old.enqueue(ticket("a"))
    a = old.call_next(at(0))
    assert a is not None
    old.promote(at(0))
    assert old.renew(a.ref, at(1)) is not None  # armed: a's request may be on its way
    # the gate is terminated (or reset) and started again: its numbers start at 1 again
    new = GateState(platform_id=1, epoch="run-b")
    new.enqueue(ticket("b"))
    b = new.call_next(at(2))
    assert b is not None and b.lease_id == a.lease_id and b.ref != a.ref
    # a's holder settles and releases its lease: never taken for b's
    assert not new.revoke(a.ref) and not new.end_unarmed(a.ref)
    assert not new.release(Release(lease_id=a.lease_id, epoch=a.epoch, fate=Fate.NOT_SENT))
    assert new.fate(a.ref).maybe_sent  # the settle's answer: a may have sent
    assert new.renew(a.ref, at(3)) is None and not new.can_promote(a.ref)
    assert not new.is_open(a.ref) and new.is_called(b.ref)
    # b's lease goes on as if nothing happened
    new.promote(at(3))
    assert new.release(Release(lease_id=b.lease_id, epoch=b.epoch, fate=Fate.REPLIED))
    assert new.fate(b.ref) is Fate.REPLIED and new.fate(a.ref) is Fate.NO_REPLY


def test_a_lease_from_before_epochs_is_named_by_its_number_alone() -> None:
    carried = GateState.model_validate(  # a gate's state as runs from before epochs carried it
        {"platform_id": 1, "next_lease_id": 8, "fates": {"5": "replied"}}
    )
    assert carried.fate(5) is Fate.REPLIED and carried.fate(LeaseRef(lease_id=5)) is Fate.REPLIED
    assert carried.fate(LeaseRef(lease_id=5, epoch="run-b")) is Fate.NO_REPLY
    assert LeaseRef(lease_id=5).message() == 5  # what gates from before epochs expect
    named = LeaseRef(lease_id=5, epoch="run-b")
    assert named.message() == named and lease_ref(5) == LeaseRef(lease_id=5)
