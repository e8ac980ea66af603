"""Concurrent ledger writes share transactions, and one bad write fails only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ledger.database import LedgerUnavailable
from ledger.group_commit import GroupCommit
from ledger.store import Ledger
from tests.ledger.test_ledger_store import write


class Recorder:
    """A commit function that keeps every batch it was given."""

    def __init__(self, refuse: int | None = None, unavailable: bool = False) -> None:
        self.batches: list[list[int]] = []
        self._refuse = refuse
        self._unavailable = unavailable

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)  # a real commit yields to the loop while the database works
        if self._unavailable:
            raise LedgerUnavailable("down")
        if self._refuse in items:
            raise ValueError(f"bad item {self._refuse}")
        return [item * 10 for item in items]


async def test_concurrent_callers_share_a_transaction_and_get_their_own_outcome() -> None:
    commit = Recorder()
    group = GroupCommit(commit, timeout=5)
    outcomes = await asyncio.gather(*(group(n) for n in range(50)))
    assert outcomes == [n * 10 for n in range(50)]
    assert len(commit.batches) == 1  # the writer starts once every caller has queued
    assert sorted(n for batch in commit.batches for n in batch) == list(range(50))


async def test_a_refused_item_fails_only_its_caller() -> None:
    commit = Recorder(refuse=7)
    group = GroupCommit(commit, timeout=5)
    outcomes = await asyncio.gather(*(group(n) for n in range(10)), return_exceptions=True)
    assert [type(o).__name__ for o in outcomes].count("ValueError") == 1
    assert isinstance(outcomes[7], ValueError)
    assert [o for n, o in enumerate(outcomes) if n != 7] == [n * 10 for n in range(10) if n != 7]


async def test_an_unavailable_database_fails_the_whole_batch_at_once() -> None:
    commit = Recorder(unavailable=True)
    group = GroupCommit(commit, timeout=5)
    outcomes = await asyncio.gather(*(group(n) for n in range(10)), return_exceptions=True)
    assert all(isinstance(o, LedgerUnavailable) for o in outcomes)
    assert len(commit.batches) == 1  # not retried one by one


async def test_a_caller_gives_up_after_its_timeout() -> None:
    release = asyncio.Event()

    async def stuck(items: Sequence[int]) -> list[int]:
        await release.wait()
        return list(items)

    group = GroupCommit(stuck, timeout=0.05)
    with pytest.raises(LedgerUnavailable, match="no answer within 0.05 s"):
        await group(1)
    release.set()
    assert await GroupCommit(stuck, timeout=1)(2) == 2


async def test_one_batch_registers_an_order_once_and_compares_the_rest(ledger: Ledger) -> None:
    registered = await asyncio.gather(
        ledger.register("checkout", "paymentassist", "batch-1", {"amount": 1}),
        ledger.register("checkout", "paymentassist", "batch-1", {"amount": 2}),
        ledger.register("checkout", "paymentassist", "batch-2", {"amount": 3}),
        *(ledger.register("invoice", "passimpay", f"many-{n}", {"n": n}) for n in range(40)),
    )
    assert [r.new for r in registered[:3]] == [True, False, True]
    assert registered[1].record.terms == {"amount": 1}  # the first terms, for the caller to compare
    assert all(r.new for r in registered[3:])
    written = await asyncio.gather(
        *(ledger.record([write(f"many-{n}", 1, "paid")]) for n in range(40))
    )
    assert written == [1] * 40
    again = await ledger.record([write(f"many-{n}", 1, "paid") for n in range(40)])
    assert again == 0


async def test_one_batch_with_two_versions_of_a_flow_keeps_the_newest(ledger: Ledger) -> None:
    added = await asyncio.gather(
        ledger.record([write("twice", 1, "created")]),
        ledger.record([write("twice", 2, "paid")]),
        ledger.record([write("twice", 1, "created")]),  # a retry queued behind a newer version
    )
    assert sum(added) == 2
    kept = await ledger.payment("invoice", "twice")
    assert kept is not None and (kept.version, kept.status) == (2, "paid")
    assert [e["entry_key"] for e in await ledger.entries_of("invoice", "twice")] == ["v1", "v2"]
