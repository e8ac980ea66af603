"""Queries, updates and signals on one workflow, with Temporal's errors turned into ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode


class PaymentNotFound(LookupError):
    """No workflow exists for that order."""


class PaymentConflict(RuntimeError):
    """The request is not legal in the payment's current state (or it has ended)."""


@contextlib.contextmanager
def workflow_errors(workflow_id: str) -> Iterator[None]:
    """Map a missing workflow to PaymentNotFound and a refused update to PaymentConflict."""
    try:
        yield
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            if "completed" in error.message or "closed" in error.message:
                raise PaymentConflict(f"{workflow_id} has already ended") from None
            raise PaymentNotFound(f"no payment {workflow_id}") from None
        raise
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise PaymentConflict(message) from None
