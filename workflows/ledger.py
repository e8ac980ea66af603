"""Write a flow's changes to the ledger of record, in order, from local activities."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.ledger import LedgerActivities
    from state.ledger_models import Kind, LedgerChange, LedgerMark, LedgerWrite
    from workflows.calls import UNTIL_DONE

LEDGER_PATCH = "record-to-ledger"
"""Runs recorded before the ledger replay without writing to it; every run after writes."""
WRITE_TIMEOUT = timedelta(seconds=15)


class LedgerRecorder:
    """The flow's writer to the ledger: one entry per change of status, attention or money
    moved, the current view with each write, and a closing write before the workflow ends.

    Changes wait in the carried `LedgerMark` until written, so continue-as-new never waits for
    the database: the next run writes what this one could not."""

    def __init__(
        self,
        mark: LedgerMark,
        *,
        kind: Kind,
        provider: str,
        view: Callable[[], BaseModel],
        started_on: bool = False,
        hold_quiet: bool = False,
    ) -> None:
        """`started_on`: the run was started to write (its input says so), so no patch marker
        is needed; the carried mark keeps that for the runs that continue it.

        `hold_quiet`: a change queued with `at_once=False` waits for the next write, or until
        the flow has waited once (`before_wait`), so a change the next moment supersedes costs
        no write of its own."""
        self._mark = mark
        self._kind = kind
        self._provider = provider
        self._view = view
        mark.on = mark.on or started_on
        self._enabled: bool | None = True if mark.on else None
        """Otherwise decided by the patch on the first change (runs started before the ledger
        replay their recorded commands)."""
        self._order_id = ""
        self._last_view: dict[str, Any] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._hold_quiet = hold_quiet
        self._held = False
        """Queued changes have been held across one wait already."""

    def off(self) -> None:
        """Never write (a type that takes no patches, run from before the ledger)."""
        self._enabled = False

    def _on(self) -> bool:
        if self._enabled is None:
            self._enabled = workflow.patched(LEDGER_PATCH)
        return self._enabled

    def resume(self, order_id: str) -> None:
        """Write the changes a previous run left queued."""
        self._order_id = order_id
        if self._mark.pending and self._on():
            self._send()

    def changed(
        self,
        order_id: str,
        status: str,
        needs_attention: bool,
        money: str = "",
        *,
        at_once: bool = True,
    ) -> None:
        """Queue a write when status, attention or the money moved (`money`) changed; a quiet
        change (`at_once=False`) may wait for the next one when the recorder holds them."""
        shown = (status, needs_attention, money)
        if shown == self._mark.shown or not self._on():
            return
        previous = self._mark.shown
        self._mark.shown = shown
        if previous is None or previous[0] != status:
            change: str | None = f"{self._kind}.{status}"
        elif previous[1] != needs_attention:
            required = "attention_required" if needs_attention else "attention_cleared"
            change = f"{self._kind}.{required}"
        else:
            change = None  # money moved: its entries come from the view
        self._queue(order_id, status, needs_attention, change, closed=False)
        if at_once or not self._hold_quiet:
            self._send()

    def before_wait(self) -> None:
        """The flow is about to wait for news: send what it has held across one wait already
        (a quiet change reaches the ledger within one wait)."""
        if not self._hold_quiet or not self._mark.pending:
            return
        if self._sender is not None and not self._sender.done():
            return
        if self._held:
            self._send()
        else:
            self._held = True

    async def closed(self, order_id: str, status: str, needs_attention: bool) -> None:
        """Write the final view, marked closed: the workflow ends only once it is recorded,
        and again if a signal changed the state while it was written (so `GET` from the ledger
        answers what the workflow's last query would have)."""
        if not self._on():
            return
        while True:
            self._queue(order_id, status, needs_attention, None, closed=True)
            self._send()
            await self.drained()
            if self._written_view() == self._last_view:
                return

    async def drained(self) -> None:
        """Until every queued change is written."""
        if self._mark.pending:
            await workflow.wait_condition(lambda: not self._mark.pending)

    def _queue(
        self, order_id: str, status: str, needs_attention: bool, change: str | None, *, closed: bool
    ) -> None:
        self._order_id = order_id
        self._mark.version += 1
        self._mark.pending.append(
            LedgerChange(
                version=self._mark.version,
                at=workflow.now(),
                status=status,
                needs_attention=needs_attention,
                change=change,
                closed=closed,
            )
        )

    def _send(self) -> None:
        self._held = False
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_pending())

    def _written_view(self) -> dict[str, Any]:
        """The view as it reads once the changes in flight are written."""
        view = self._view().model_dump(mode="json")
        view["recorded"]["pending"] = []
        return view

    async def _send_pending(self) -> None:
        pending = self._mark.pending
        while pending:
            batch = list(pending)
            self._last_view = self._written_view()
            write = LedgerWrite(
                kind=self._kind,
                provider=self._provider,
                order_id=self._order_id,
                changes=batch,
                view=self._last_view,
            )
            await workflow.execute_local_activity_method(
                LedgerActivities.record,
                write,
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=UNTIL_DONE,  # a database that is down delays the record only
            )
            del pending[: len(batch)]
