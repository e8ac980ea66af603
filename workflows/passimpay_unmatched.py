"""Verified Passimpay callbacks that no open workflow took, kept until an operator clears them."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from state.passimpay_models import Acknowledgement, UnmatchedCallback
    from workflows.visibility import publish_identity, publish_status

UNMATCHED_WORKFLOW_ID = "passimpay-unmatched-callbacks"
SIGNALS_PER_RUN = 200
ONLY_ON_CHANGE_PATCH = "inbox-publishes-only-on-change"
"""Visibility is upserted only when the attention flag flips (docs/deploying.md: "Changing a running workflow
safely"); deprecate it once no inbox run from before it is left."""


@workflow.defn
class PassimpayUnmatchedCallbacks:
    """A long-lived inbox; continue-as-new carries the open items, so nothing is lost."""

    @workflow.init
    def __init__(self, carried: list[UnmatchedCallback] | None = None) -> None:
        self._items: list[UnmatchedCallback] = list(carried or [])
        self._received_this_run = 0

    @workflow.run
    async def run(self, carried: list[UnmatchedCallback] | None = None) -> None:
        publish_identity("passimpay", UNMATCHED_WORKFLOW_ID, "inbox")
        self._publish()
        await workflow.wait_condition(
            lambda: (
                self._received_this_run >= SIGNALS_PER_RUN
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._items)

    def _publish(self) -> None:
        publish_status("inbox", needs_attention=bool(self._items))

    def _publish_if_changed(self, flagged_before: bool) -> None:
        """Publish on a flip only, so callbacks to a flagged inbox add no events (a patch)."""
        if workflow.patched(ONLY_ON_CHANGE_PATCH) and flagged_before == bool(self._items):
            return
        self._publish()

    @workflow.signal(description="Keep one callback (a redelivery of the same body is kept once)")
    def record(self, item: UnmatchedCallback) -> None:
        """Keep one callback (a redelivery of the same body is kept once)."""
        self._received_this_run += 1
        if any(existing.key == item.key for existing in self._items):
            return
        flagged_before = bool(self._items)
        self._items.append(item)
        self._publish_if_changed(flagged_before)

    @workflow.update(
        description="An operator has dealt with one item (runs from before `acknowledge_by` recorded who)"
    )
    def acknowledge(self, key: str) -> list[UnmatchedCallback]:
        """An operator has dealt with one item (runs from before `acknowledge_by` recorded who)."""
        return self._drop(key)

    @workflow.update(description="An operator has dealt with one item")
    def acknowledge_by(self, acknowledgement: Acknowledgement) -> list[UnmatchedCallback]:
        """An operator has dealt with one item; returns what is still open."""
        workflow.logger.info("%s acknowledged %s", acknowledgement.actor, acknowledgement.key)
        return self._drop(acknowledgement.key)

    def _drop(self, key: str) -> list[UnmatchedCallback]:
        flagged_before = bool(self._items)
        self._items = [item for item in self._items if item.key != key]
        self._publish_if_changed(flagged_before)
        return list(self._items)

    @workflow.query(description="Everything still waiting for an operator")
    def items(self) -> list[UnmatchedCallback]:
        """Everything still waiting for an operator."""
        return list(self._items)
