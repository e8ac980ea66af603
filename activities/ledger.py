"""Record a flow's changes in the ledger of record (a local activity: one database write)."""

from __future__ import annotations

from temporalio import activity

from ledger.store import Ledger
from state.ledger_models import LedgerWrite


class LedgerActivities:
    """Writes to the worker's ledger; a retried write writes nothing twice."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn(name="ledger.record")
    async def record(self, write: LedgerWrite) -> None:
        """Write the changes and the current view; the database being down retries."""
        await self._ledger.record([write])
