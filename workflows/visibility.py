"""What operators see of a workflow in the Temporal UI: search attributes and memo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from payflow.search_attributes import (
        NEEDS_ATTENTION,
        ORDER_ID,
        PAYMENT_PROVIDER,
        PAYMENT_STATUS,
    )
    from state.details import current_details
    from state.tracked import LifecycleState, TrackedState
    from workflows.ledger import LedgerRecorder
    from workflows.notifications import Notifier

CHECKS = "status_checks"
"""The attention reason raised while status checks keep failing."""

StateT = TypeVar("StateT", bound=LifecycleState)
TrackedT = TypeVar("TrackedT", bound=TrackedState)


def publish_identity(provider: str, order_id: str, status: str) -> None:
    """Set the attributes every payment workflow carries from its first task."""
    workflow.upsert_search_attributes(
        [
            PAYMENT_PROVIDER.value_set(provider),
            ORDER_ID.value_set(order_id),
            PAYMENT_STATUS.value_set(status),
            NEEDS_ATTENTION.value_set(False),
        ]
    )


def publish_status(
    status: str,
    *,
    needs_attention: bool = False,
    details: Mapping[str, object] | None = None,
    status_in_memo: bool = True,
    attributes: Sequence[SearchAttributeUpdate[Any]] = (),
) -> None:
    """Mirror the lifecycle's state (and whether an operator must look) into visibility;
    `details` adds memo fields (never personal data: the memo is not encrypted). Without
    `status_in_memo` the memo is written only for `details` (the search attributes already
    show the status, and each memo write is one more event and visibility update);
    `attributes` ride in the same upsert."""
    workflow.upsert_search_attributes(
        [
            PAYMENT_STATUS.value_set(status),
            NEEDS_ATTENTION.value_set(needs_attention),
            *attributes,
        ]
    )
    if status_in_memo:
        workflow.upsert_memo(
            {"status": status, "needs_attention": needs_attention, **(details or {})}
        )
    elif details:
        workflow.upsert_memo(dict(details))


class Published(Generic[StateT]):
    """The bookkeeping of a workflow with one `LifecycleState`: moves are journaled and the
    Temporal UI updated once per change of status or attention."""

    _s: StateT
    _shown: tuple[str, bool] | None = None
    _notifier: Notifier | None = None
    """Set by workflows that tell the merchant about their changes."""
    _recorder: LedgerRecorder | None = None
    """Set by workflows that write their changes to the ledger of record."""
    _waiting: str | None = None
    """What an open workflow waits for, shown in the Temporal UI's current details."""
    publish_every_move: ClassVar[bool] = False
    """Upsert on every move, self-moves included (what histories recorded before expect)."""

    def _publish_identity(self, provider: str) -> None:
        """Name the workflow in visibility, then show what a carried state already knows."""
        publish_identity(provider, self._s.order_id, self._s.status)
        self._shown = (self._s.status, False)
        self._publish()

    def _publish(self, *, force: bool = False) -> None:
        """Upsert status and attention when either differs from what was last shown."""
        shown = (self._s.status, self._s.needs_attention)
        if self._notifier is not None:
            self._notifier.changed(self._s.order_id, *shown)
        if self._recorder is not None:
            self._recorder.changed(self._s.order_id, *shown, self._s.money_moved())
        self._show_details()
        if force or shown != self._shown:
            self._shown = shown
            publish_status(shown[0], needs_attention=shown[1])

    def _show_details(self) -> None:
        """Refresh the current details (a query answer: no history event)."""
        reasons = self._s.attention.reasons if isinstance(self._s, TrackedState) else {}
        workflow.set_current_details(
            current_details(self._s.status, reasons.values(), self._waiting)
        )

    def _wait_for(self, what: str | None) -> None:
        """Say in the Temporal UI what the workflow is waiting for (None: nothing special)."""
        self._waiting = what
        self._show_details()

    def _move(self, event: str, note: str | None = None) -> bool:
        """Offer `event` to the lifecycle (journaled either way); True when it moved."""
        moved = self._s.lifecycle.offer(event, workflow.now(), note)
        self._publish(force=moved and self.publish_every_move)
        return moved


class Tracked(Published[TrackedT]):
    """`Published`, plus named attention reasons and the health of status checks."""

    def _flag(self, key: str, reason: str) -> None:
        """Open (or reword) one reason for an operator to look."""
        self._s.attention.raise_(key, reason)
        self._publish()

    def _unflag(self, key: str) -> None:
        """Close one reason."""
        self._s.attention.clear(key)
        self._publish()

    def _check_failed(self, message: str, bound_seconds: float) -> None:
        """A status check failed; after `bound_seconds` of failures an operator is told."""
        checks, now = self._s.checks, workflow.now()
        checks.failed(now, message)
        if checks.overdue(now, bound_seconds):
            self._flag(CHECKS, checks.reason())

    def _check_answered(self) -> None:
        """The provider answered a status check."""
        self._s.check_answered(workflow.now())
        self._unflag(CHECKS)
