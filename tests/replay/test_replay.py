"""Replay every golden against today's code, so a nondeterministic change fails before a deploy.

The goldens are recorded without a payload key (readable, and scanned for secrets below); the
replayer decodes them with the tests' key anyway, as a production worker would: histories from
before encryption pass through the codec and still replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

import worker
from payflow.codec import data_converter
from tests.payload_keys import CODEC
from tests.replay.goldens import HISTORIES, SECRETS, decoded
from workflows.passimpay_unmatched import ONLY_ON_CHANGE_PATCH
from workflows.passimpay_withdraw_gate import PassimpayWithdrawGate

GOLDENS = sorted(HISTORIES.glob("*.json"))
WORKFLOWS = [*worker.WORKFLOWS, PassimpayWithdrawGate]


def workflow_type(path: Path) -> str:
    """The workflow type a stored history ran."""
    started = json.loads(path.read_text())["events"][0]
    return str(started["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])


def load(path: Path) -> WorkflowHistory:
    """A stored golden, named after its file."""
    return WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize("path", GOLDENS, ids=[path.stem for path in GOLDENS])
async def test_history_replays(path: Path) -> None:
    history = load(path)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(CODEC))
    await replayer.replay_workflow(history)  # raises NondeterminismError on a mismatch


def test_every_registered_workflow_type_has_a_history() -> None:
    registered = {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    assert registered <= {workflow_type(path) for path in GOLDENS}


def test_goldens_cover_both_sides_of_the_patch() -> None:
    """One golden predates `ONLY_ON_CHANGE_PATCH` (kept, never re-exported), one carries it."""
    marked = [path.stem for path in GOLDENS if ONLY_ON_CHANGE_PATCH in decoded(path.read_text())]
    inboxes = [p.stem for p in GOLDENS if workflow_type(p) == "PassimpayUnmatchedCallbacks"]
    assert marked and set(inboxes) - set(marked)


def test_no_secret_in_any_history() -> None:
    for path in GOLDENS:
        text = decoded(path.read_text())
        assert not [secret for secret in SECRETS if secret in text], path.name


def test_current_checkout_goldens_carry_no_patch() -> None:
    """V2 and V3 take every patch by their type: no marker, no change version."""
    current = [
        p
        for p in GOLDENS
        if workflow_type(p) in ("PaymentAssistCheckoutV2", "PaymentAssistCheckoutV3")
    ]
    assert len(current) >= 4
    for path in current:
        text = decoded(path.read_text())
        assert "core_patch" not in text and "TemporalChangeVersion" not in text, path.name
