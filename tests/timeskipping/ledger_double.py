"""The ledger's activity, registered under its own name, keeping writes in memory: workflow
tests on the time-skipping server need no database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from state.ledger_models import LedgerWrite


class LedgerDouble:
    """Records every write a workflow sends to the ledger."""

    def __init__(self) -> None:
        self.writes: list[LedgerWrite] = []

    @activity.defn(name="ledger.record")
    async def record(self, write: LedgerWrite) -> None:
        self.writes.append(write)


def with_ledger(activities: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """A worker's activities plus a ledger double."""
    return [*activities, LedgerDouble().record]
