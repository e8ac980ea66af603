"""The ledger on SQLite and PostgreSQL: registry, idempotent writes, exact money, paging."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.database import LedgerUnavailable
from ledger.migrate import current_revision, head_revision, schema_problem, upgrade
from ledger.store import Ledger, PaymentFilter, payment_key
from state.ledger_models import LedgerChange, LedgerWrite

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def write(order_id: str, version: int, status: str, **fields: Any) -> LedgerWrite:
    view = {"order_id": order_id, "status": status, **fields.pop("view", {})}
    kind = fields.pop("kind", "invoice")
    change = LedgerChange(
        version=version,
        at=T0 + timedelta(seconds=version),
        status=status,
        needs_attention=fields.pop("needs_attention", False),
        change=fields.pop("change", f"{kind}.{status}"),
        **fields,
    )
    return LedgerWrite(
        kind=kind, provider="passimpay", order_id=order_id, changes=[change], view=view
    )


async def test_migrations_from_empty_and_from_the_previous_revision(empty_database: str) -> None:
    ledger = Ledger.connect(empty_database)
    try:
        assert await current_revision(ledger.engine) is None
        assert "run `payflow db upgrade`" in str(await schema_problem(ledger.engine))
        assert await upgrade(ledger.engine, "0001") == "0001"
        problem = await schema_problem(ledger.engine)
        assert problem == (
            f"the ledger database is at revision 0001, behind {head_revision()}: "
            "run `payflow db upgrade`"
        )
        registered = await ledger.register("checkout", "paymentassist", "o-1", {"amount": 1})
        assert registered.new
        assert await upgrade(ledger.engine) == head_revision()
        assert await schema_problem(ledger.engine) is None
        assert await upgrade(ledger.engine) == head_revision()  # a second upgrade is a no-op
        kept = await ledger.payment("checkout", "o-1")
        assert kept is not None and kept.terms == {"amount": 1}
    finally:
        await ledger.close()


async def test_an_order_is_registered_once_with_its_first_terms(ledger: Ledger) -> None:
    first = await ledger.register("withdrawal", "passimpay", "wd-1", {"amount": "1.5"})
    again = await ledger.register("withdrawal", "passimpay", "wd-1", {"amount": "2"})
    other_kind = await ledger.register("invoice", "passimpay", "wd-1", {"amount": "2"})
    assert (first.new, again.new, other_kind.new) == (True, False, True)
    assert again.record.terms == {"amount": "1.5"}
    assert again.record.status is None and not again.record.closed


async def test_concurrent_registrations_make_one_row(ledger: Ledger) -> None:
    results = await asyncio.gather(
        *(ledger.register("checkout", "paymentassist", "race", {"n": n}) for n in range(8))
    )
    assert sum(result.new for result in results) == 1
    assert len({str(result.record.terms) for result in results}) == 1


async def test_a_retried_write_writes_nothing_twice_and_old_versions_never_win(
    ledger: Ledger,
) -> None:
    await ledger.register("address", "passimpay", "inv-1", {"amount": "10"})
    deposit = {
        "payment_id": 10,
        "txhash": "0xabc",
        "amount": "0.123456789012345678",
        "credited_at": T0.isoformat(),
    }
    batch = [
        write("inv-1", 1, "open", kind="address"),
        write("inv-1", 2, "paid", kind="address", view={"deposits": [deposit]}),
    ]
    assert await ledger.record(batch) == 3  # two changes and one credited deposit
    assert await ledger.record(batch) == 0
    assert await ledger.record([write("inv-1", 1, "open", kind="address")]) == 0
    record = await ledger.payment("address", "inv-1")
    assert record is not None
    assert (record.status, record.version, record.created_at) == (
        "paid",
        2,
        T0 + timedelta(1 / 86400),
    )
    found = await ledger.entries_of("address", "inv-1")
    assert [(e["type"], e["entry_key"]) for e in found] == [
        ("address.open", "v1"),
        ("address.paid", "v2"),
        ("address.credited", "money:deposit:10:0xabc"),
    ]
    money = found[2]
    assert money["amount"] == Decimal("0.123456789012345678")
    assert (money["currency"], money["direction"], money["reference"]) == (
        "passimpay:10",
        "in",
        "0xabc",
    )


async def test_a_closing_write_marks_the_payment_closed(ledger: Ledger) -> None:
    await ledger.record([write("inv-2", 1, "expired")])
    await ledger.record([write("inv-2", 2, "expired", change=None, closed=True)])
    record = await ledger.payment("invoice", "inv-2")
    assert record is not None and record.closed and record.version == 2
    assert [e["entry_key"] for e in await ledger.entries_of("invoice", "inv-2")] == ["v1"]


async def test_pages_have_no_gap_and_no_repeat_while_payments_are_written(
    ledger: Ledger,
) -> None:
    existing = [f"p-{n:04d}" for n in range(1000)]
    for start in range(0, len(existing), 250):
        await ledger.record(
            [write(order_id, 1, "open") for order_id in existing[start : start + 250]]
        )

    async def keep_writing() -> None:
        for n in range(200):
            await ledger.record([write(f"new-{n}", 1, "open")])

    writer = asyncio.create_task(keep_writing())
    seen: list[str] = []
    after: str | None = None
    for _ in range(100):
        page = await ledger.page(PaymentFilter(kind="invoice"), limit=37, starting_after=after)
        seen += [item.order_id for item in page.items]
        if not page.has_more:
            break
        after = payment_key(page.items[-1].kind, page.items[-1].order_id)
    await writer
    old = [order_id for order_id in seen if order_id.startswith("p-")]
    assert len(old) == len(set(old)) == 1000
    assert old == sorted(existing, reverse=True)
    assert len(seen) == len(set(seen))


async def test_listing_filters(ledger: Ledger) -> None:
    await ledger.record(
        [
            write("a", 1, "open"),
            write("b", 1, "paid"),
            write("c", 1, "open", needs_attention=True),
            write(
                "d",
                1,
                "completed",
                kind="checkout",
                change="checkout.completed",
                view={"amount": 100},
            ),
        ]
    )
    await ledger.register("checkout", "paymentassist", "registered-only", {})

    async def listed(**where: Any) -> list[str]:
        return [item.order_id for item in (await ledger.page(PaymentFilter(**where))).items]

    assert await listed() == ["d", "c", "b", "a"]
    assert await listed(kind="invoice", status="open") == ["c", "a"]
    assert await listed(needs_attention=True) == ["c"]
    assert await listed(provider="paymentassist") == []  # written by a passimpay flow
    assert await listed(created_from=T0 + timedelta(seconds=1)) == ["d", "c", "b", "a"]
    assert await listed(created_to=T0) == []
    with pytest.raises(KeyError):
        await ledger.page(starting_after="invoice:nobody")


async def test_entries_are_exported_by_time(ledger: Ledger) -> None:
    await ledger.record([write(f"e-{n}", v, "open") for n in range(3) for v in (1, 2)])
    everything = [e async for e in ledger.entries()]
    assert len(everything) == 6
    assert [e["at"] for e in everything] == sorted(e["at"] for e in everything)
    later = [e async for e in ledger.entries(T0 + timedelta(seconds=2), T0 + timedelta(hours=1))]
    assert {(e["order_id"], e["version"]) for e in later} == {(f"e-{n}", 2) for n in range(3)}


async def test_an_unreachable_database_is_unavailable_not_an_error() -> None:
    from payflow.http_server import free_port

    ledger = Ledger.connect(f"postgresql+asyncpg://payflow@127.0.0.1:{free_port()}/x", timeout=3)
    try:
        with pytest.raises(LedgerUnavailable):
            await ledger.register("checkout", "paymentassist", "o", {})
    finally:
        await ledger.close()


async def test_held_callbacks_wait_in_order_until_each_is_settled(ledger: Ledger) -> None:
    first = await ledger.hold_callback("deposit", "adr-1", {"txhash": "a", "amount": "1.5"})
    second = await ledger.hold_callback("deposit", "adr-2", {"txhash": "b", "amount": "2"})
    waiting = await ledger.held_callbacks()
    assert [(h.id, h.order_id, h.event["amount"]) for h in waiting] == [
        (first, "adr-1", "1.5"),
        (second, "adr-2", "2"),
    ]
    await ledger.callback_tried(first, None)  # Temporal still down: it stays, first in line
    assert [h.id for h in await ledger.held_callbacks()] == [first, second]
    await ledger.callback_tried(first, "address")
    await ledger.callback_tried(second, "unmatched")
    assert await ledger.held_callbacks() == []
