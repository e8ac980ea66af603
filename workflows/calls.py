"""How workflows call provider activities: one timeout and retry policy for all short calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import UpdateMethodMultiParam

with workflow.unsafe.imports_passed_through():
    from activities.errors import NON_RETRYABLE_TYPES

Arg = TypeVar("Arg")
Result = TypeVar("Result")
P = ParamSpec("P")

CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
ONE_TRY = RetryPolicy(maximum_attempts=1)
STATUS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
"""A status read that the poll loop repeats anyway: fail fast so the attention clock sees it."""
UNTIL_DONE = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
"""For calls that send nothing to a provider (validation, the withdraw gate): until they answer."""
CALL_TIMEOUT = timedelta(seconds=60)
"""Start-to-close of a short provider call: far above the client's own HTTP timeout, so a busy
worker is never cancelled mid-call (no heartbeat timeout either: a loaded event loop misses
beats, and a cancelled non-idempotent call is a duplicate or a parked flow)."""


async def call(
    method: Callable[[Any, Arg], Awaitable[Result]],
    arg: Arg,
    *,
    retry_policy: RetryPolicy = CALL_RETRY,
    task_queue: str | None = None,
) -> Result:
    """Run one provider activity; transient failures retry, refusals do not."""
    return await workflow.execute_activity_method(
        method,
        arg,
        start_to_close_timeout=CALL_TIMEOUT,
        retry_policy=retry_policy,
        task_queue=task_queue,
    )


LOCAL_READS = "provider-reads-as-local-activities"
"""Patch: runs from before it made every `/status` read an activity task of its own."""


async def read(
    method: Callable[[Any, Arg], Awaitable[Result]],
    arg: Arg,
    *,
    retry_policy: RetryPolicy = CALL_RETRY,
    local: bool = False,
) -> Result:
    """Run a provider read that changes nothing (a status check) as a local activity: it runs
    inside the workflow task that asked for it and leaves one marker, instead of an activity
    task and a second workflow task (about half the cost of every poll and confirmation).

    `local` says a patch taken earlier in the run already decided it (no marker of its own)."""
    if not (local or workflow.patched(LOCAL_READS)):
        return await call(method, arg, retry_policy=retry_policy)
    try:
        return await workflow.execute_local_activity_method(
            method, arg, start_to_close_timeout=CALL_TIMEOUT, retry_policy=retry_policy
        )
    except ApplicationError as error:  # a local activity's last failure can arrive unwrapped
        raise ActivityError(
            "local activity failed",
            scheduled_event_id=0,
            started_event_id=0,
            identity="",
            activity_type=getattr(method, "__name__", "local activity"),
            activity_id="",
            retry_state=None,
        ) from error


def async_update(
    description: str, *, name: str | None = None
) -> Callable[[Callable[P, Awaitable[Result]]], UpdateMethodMultiParam[P, Result]]:
    """`@workflow.update` with a description for an `async def` handler, typed as the bare
    decorator types it (the SDK's keyword form loses the awaited return type)."""
    decorator = (
        workflow.update(description=description)
        if name is None
        else workflow.update(name=name, description=description)
    )
    return cast(
        Callable[[Callable[P, Awaitable[Result]]], UpdateMethodMultiParam[P, Result]], decorator
    )


def failure_message(error: ActivityError) -> str:
    """What went wrong in a failed activity, in the provider's words where it gave any."""
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or error)


def failure_type(error: ActivityError) -> str | None:
    """The failed activity's error type (Refused, Transient, ...), if it raised one of ours."""
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


HISTORY_LIMIT = 5_000
"""Events after which a waiting loop continues as new (well under 10 000 per run)."""


def history_is_long() -> bool:
    """Whether this run should continue as new: Temporal suggests it, or our own bound."""
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() >= HISTORY_LIMIT
