"""The pure deposit decisions: invoice status readings, provider coverage, attention reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from state.attention import Attention, FailingChecks
from state.deposit_ledger import SETTLED_KEPT, DepositEvent, DepositLedger, RecordOutcome
from state.passimpay_invoice import (
    EXPIRY_NOTICE_SECONDS,
    LateVerdict,
    judge_late_deposit,
    late_money_grew,
    status_event,
    top_up_reached,
)
from state.passimpay_models import (
    AddressAssignment,
    InvoiceRequest,
    InvoiceState,
    names_this_address,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = Decimal


@pytest.mark.parametrize(
    ("status", "paid", "seen", "event"),
    [
        ("paid", D("1"), False, "settle"),
        ("wait", D("0"), False, None),
        ("wait", D("0.01"), False, "receive_part"),
        ("error", D("60"), False, "expire_partial"),  # 60 of anything is still not `paid`
        ("error", D("0"), False, "expire"),
        ("error", None, True, "expire_partial"),  # no amountPaid, but callbacks announced money
        ("error", None, False, "expire"),
    ],
)
def test_only_the_providers_paid_settles(
    status: str, paid: Decimal | None, seen: bool, event: str | None
) -> None:
    assert status_event(status, paid, callbacks_seen=seen)[0] == event


def test_top_up_is_compared_only_in_the_invoices_own_unit() -> None:
    assert top_up_reached(D("50.00"), "usd", amount=D("50.00"), symbol="USD")
    assert not top_up_reached(D("60"), "DOGE", amount=D("50.00"), symbol="USD")
    assert not top_up_reached(D("49.99"), "USD", amount=D("50.00"), symbol="USD")
    assert not top_up_reached(D("50.00"), None, amount=D("50.00"), symbol="USD")


def test_late_money_is_judged_only_within_one_unit() -> None:
    assert late_money_grew((D("10"), "USD"), (D("15"), "USD")) is True
    assert late_money_grew((D("10"), "USD"), (D("10.00"), "USD")) is False
    assert late_money_grew((D("10"), "USD"), (D("10"), "USDT")) is None
    assert late_money_grew((None, None), (D("0"), "USD")) is False
    assert late_money_grew((D("0"), "USD"), (D("50"), "USDT")) is True  # zero in any unit
    assert late_money_grew((D("10"), "USD"), (None, "USD")) is None


def _event(txhash: str, amount: str, confirmations: int, payment_id: int = 70) -> DepositEvent:
    return DepositEvent(
        txhash=txhash, payment_id=payment_id, amount=D(amount), confirmations=confirmations
    )


def test_ledger_credits_only_what_the_provider_total_covers_oldest_first() -> None:
    ledger = DepositLedger()
    for minute, (txhash, amount) in enumerate([("a", "10"), ("b", "5"), ("c", "1")]):
        at = T0 + timedelta(minutes=minute)
        assert ledger.record(_event(txhash, amount, 1), at=at, required_confirmations=1) == (
            RecordOutcome.REACHED
        )
    assert ledger.covered(70, D("12")) == ["70:a"]  # b would exceed, so c waits behind it
    assert ledger.credit("70:a", T0, "covered") and not ledger.credit("70:a", T0, "again")
    assert ledger.covered(70, D("12")) == []
    assert ledger.covered(70, D("16")) == ["70:b", "70:c"]
    assert ledger.covered(71, D("1000")) == []


def test_rejected_deposits_use_up_the_providers_count_held_ones_do_not() -> None:
    ledger = DepositLedger()
    for minute, txhash in enumerate(["rejected", "held", "new"]):
        ledger.record(
            _event(txhash, "100", 1), at=T0 + timedelta(minutes=minute), required_confirmations=1
        )
    assert ledger.reject("70:rejected", T0, "operator")
    ledger.entries["70:held"].held = True
    assert ledger.covered(70, D("100")) == ["70:new"]  # the old rule: only credits count
    assert ledger.covered(70, D("100"), after_settled=True) == []  # R's 100 is no budget
    assert ledger.covered(70, D("200"), after_settled=True) == ["70:new"]
    assert ledger.settled_amount(70) == D("100")  # held: sent elsewhere, never counted here


def test_a_callback_is_the_providers_word_only_when_it_names_this_address() -> None:
    assigned = AddressAssignment(payment_id=80, address="rXrpAddress", destination_tag="42")
    ledger = DepositLedger()
    for txhash, address_to, tag, payment_id in [
        ("ok", "rXrpAddress", "42", 80),
        ("no-tag", "rXrpAddress", None, 80),
        ("other-tag", "rXrpAddress", "43", 80),
        ("other-address", "rSomewhereElse", "42", 80),
        ("no-address", None, "42", 80),
        ("other-coin", "rXrpAddress", "42", 70),
    ]:
        event = DepositEvent(
            txhash=txhash,
            payment_id=payment_id,
            amount=D("1"),
            confirmations=1,
            address_to=address_to,
            destination_tag=tag,
        )
        ledger.record(event, at=T0, required_confirmations=1)
    named = [e.txhash for e in ledger.entries.values() if names_this_address(assigned, e)]
    assert named == ["ok"]


def test_ledger_waits_for_confirmations_before_coverage_counts() -> None:
    ledger = DepositLedger()
    ledger.record(_event("u", "0.5", 1, 10), at=T0, required_confirmations=2)
    assert ledger.covered(10, D("0.5")) == []  # the provider may count it at 1 confirmation
    assert ledger.record(_event("u", "0.5", 1, 10), at=T0, required_confirmations=2) == (
        RecordOutcome.DUPLICATE
    )
    assert ledger.record(_event("u", "0.5", 3, 10), at=T0, required_confirmations=2) == (
        RecordOutcome.REACHED
    )
    assert ledger.covered(10, D("0.5")) == ["10:u"]
    assert ledger.reject("10:u", T0, "operator") and not ledger.credit("10:u", T0, "late")
    assert ledger.credited_amount() == 0 and ledger.unsettled() == []


def test_expiry_notice_shape_repeats_the_earlier_sum() -> None:
    ledger = DepositLedger()
    for txhash, amount in [("p1", "10"), ("p2", "15"), ("notice", "25")]:
        ledger.record(_event(txhash, amount, 1), at=T0, required_confirmations=1)
    assert ledger.repeats_earlier("70:notice") and not ledger.repeats_earlier("70:p1")


def test_attention_reasons_open_and_close_independently() -> None:
    attention = Attention()
    assert attention.raise_("checks", "failing") is True  # needed just became true
    assert attention.raise_("deposit:x", "unconfirmed") is False
    assert attention.clear("checks") is False and attention.needed
    assert attention.clear("deposit:x") is True and not attention.needed
    assert attention.clear("deposit:x") is False


def test_failing_checks_back_off_and_become_overdue() -> None:
    checks = FailingChecks()
    assert not checks.overdue(T0, 300)
    checks.failed(T0, "HTTP 503")
    checks.failed(T0 + timedelta(seconds=5), "HTTP 503")
    assert checks.retry_after(15) == 2 and not checks.overdue(T0 + timedelta(seconds=299), 300)
    assert checks.overdue(T0 + timedelta(seconds=300), 300) and "2 in a row" in checks.reason()
    for _ in range(10):
        checks.failed(T0, "HTTP 503")
    assert checks.retry_after(15) == 15
    checks.succeeded()
    assert not checks.overdue(T0 + timedelta(days=1), 300)


def test_settled_deposits_beyond_the_latest_are_archived_yet_still_deduplicated() -> None:
    ledger = DepositLedger()
    total = SETTLED_KEPT + 50
    for n in range(total):
        assert ledger.record(_event(f"tx{n}", "1", 1), at=T0, required_confirmations=1) == (
            RecordOutcome.REACHED
        )
        assert ledger.credit(f"70:tx{n}", T0, "covered")
    assert len(ledger.entries) == total  # nothing leaves before the batch is compacted
    ledger.compact()
    assert len(ledger.entries) == SETTLED_KEPT and len(ledger.archived) == 50
    assert "70:tx0" not in ledger.entries and "70:tx149" in ledger.entries
    assert ledger.credited_amount(70) == D(total) and ledger.credited_amount(71) == 0
    replayed = ledger.record(_event("tx0", "1", 2), at=T0, required_confirmations=1)
    assert replayed == RecordOutcome.DUPLICATE and "70:tx0" not in ledger.entries
    carried = DepositLedger.model_validate(ledger.model_dump(mode="json"))
    assert carried.was_archived(70, "tx0") and not carried.was_archived(70, "tx149")
    assert carried.credited_amount() == D(total)
    assert carried.covered(70, D(total)) == []  # archived credits still use up the budget


def test_a_late_callback_is_the_paying_deposit_only_while_a_rise_is_unexplained() -> None:
    def judge(**changes: object) -> LateVerdict:
        facts: dict[str, Any] = {
            "grew": False,
            "callbacks_owed": 1,
            "expired": False,
            "repeats_earlier": True,
            "seconds_after_end": 5.0,
            "notice_taken": False,
        }
        return judge_late_deposit(**(facts | changes))

    assert judge() is LateVerdict.PAYING
    assert judge(grew=True) is LateVerdict.LATE  # the provider counted new money since the end
    assert judge(grew=None) is LateVerdict.LATE  # not comparable: an operator decides
    assert judge(callbacks_owed=0) is LateVerdict.LATE  # a paid invoice has no expiry notice
    assert judge(callbacks_owed=0, expired=True) is LateVerdict.EXPIRY_NOTICE
    assert judge(callbacks_owed=0, expired=True, notice_taken=True) is LateVerdict.LATE
    late_notice = EXPIRY_NOTICE_SECONDS + 1
    assert judge(callbacks_owed=0, expired=True, seconds_after_end=late_notice) is LateVerdict.LATE


def test_rises_and_callbacks_pair_up_in_either_order() -> None:
    state = InvoiceState.start(InvoiceRequest(order_id="o-1", amount=D("100")), T0)
    state.count_callback()
    state.count_callback()  # two deposits before one read
    state.count_rise()
    assert (state.callbacks_unmatched, state.callbacks_owed) == (0, 0)
    state.count_rise()  # the read saw the paying deposit before its callback
    assert state.callbacks_owed == 1
    state.count_callback()
    assert (state.callbacks_unmatched, state.callbacks_owed) == (0, 0)


def test_one_transaction_under_two_spellings_is_one_deposit() -> None:
    ledger = DepositLedger()
    hexhash = "ab" * 32
    assert ledger.record(_event(hexhash, "5", 1), at=T0, required_confirmations=1) == (
        RecordOutcome.REACHED
    )
    for spelling in (f"0x{hexhash.upper()}", f" 0X{hexhash} "):
        assert ledger.record(_event(spelling.strip(), "5", 1), at=T0, required_confirmations=1) == (
            RecordOutcome.DUPLICATE
        )
    assert list(ledger.entries) == [f"70:{hexhash}"]
    base58 = "5VfydnLu4XwV2H2dLHPv22JxhLbYJruaM9YTaGY30TZjd4re"
    ledger.record(_event(base58, "1", 1), at=T0, required_confirmations=1)
    ledger.record(_event(base58.lower(), "1", 1), at=T0, required_confirmations=1)
    assert len(ledger.entries) == 3  # Base58 is case-sensitive: two transactions
    assert ledger.credit(f"70:{hexhash}", T0, "covered")
    for _ in range(SETTLED_KEPT + 5):  # archive it, then hear it again under another spelling
        ledger.entries[f"70:x{_}"] = ledger.entries[f"70:{hexhash}"].model_copy(
            update={"txhash": f"x{_}"}
        )
    ledger.compact()
    assert f"70:{hexhash}" not in ledger.entries
    assert ledger.record(
        _event(f"0x{hexhash.upper()}", "5", 2), at=T0, required_confirmations=1
    ) == (RecordOutcome.DUPLICATE)
