"""Production runs workflow code as plain Python; every test runs it in the SDK's sandbox."""

from __future__ import annotations

from temporalio.worker import UnsandboxedWorkflowRunner

from payflow.settings import PayflowSettings
from worker import SANDBOXED, workflow_runner


def test_the_suite_runs_every_workflow_in_the_sandbox() -> None:
    assert PayflowSettings().workflow_sandbox
    assert workflow_runner(PayflowSettings()) is SANDBOXED


def test_a_deployment_runs_workflows_without_it_unless_asked() -> None:
    default = PayflowSettings.model_fields["workflow_sandbox"].default
    assert default is False
    assert isinstance(
        workflow_runner(PayflowSettings(workflow_sandbox=False)), UnsandboxedWorkflowRunner
    )
