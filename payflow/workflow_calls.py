"""Queries, updates and signals on one workflow, with Temporal's errors turned into ours."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar, cast

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from payflow.notify_targets import NotifyPolicy
from payflow.search_attributes import NEEDS_ATTENTION, ORDER_ID, PAYMENT_PROVIDER, PAYMENT_STATUS
from payflow.settings import PayflowSettings
from state.terms import TERMS_CONFLICT, differing_terms

Arg = TypeVar("Arg")
Result = TypeVar("Result")


class PaymentNotFound(LookupError):
    """No workflow exists for that order."""


class PaymentConflict(RuntimeError):
    """The request is not legal in the payment's current state (or it has ended)."""


class TermsConflict(PaymentConflict):
    """The order already has a payment on other terms: a repeated start never changes it."""


class OrderIdTaken(PaymentConflict):
    """The order id already belongs to another kind of flow: one order id, one kind of flow."""


class PaymentUnavailable(RuntimeError):
    """Temporal could not answer now (unreachable, overloaded, or the workflow cannot run):
    nothing was decided; ask again later."""


def has_ended(error: RPCError) -> bool:
    """Whether Temporal refused a call because the workflow has ended (or is ending: an update
    it had not taken is aborted as it closes)."""
    return any(word in error.message for word in ("completed", "closed", "closing"))


@contextlib.contextmanager
def workflow_errors(workflow_id: str) -> Iterator[None]:
    """Map a missing workflow to PaymentNotFound and a refused update to PaymentConflict."""
    try:
        yield
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            if has_ended(error):
                raise PaymentConflict(f"{workflow_id} has already ended") from None
            raise PaymentNotFound(f"no payment {workflow_id}") from None
        raise PaymentUnavailable(f"{workflow_id}: {error.message}") from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        raise PaymentUnavailable(f"{workflow_id}: no answer in time") from error
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        if isinstance(cause, ApplicationError) and cause.type == TERMS_CONFLICT:
            raise TermsConflict(message) from None
        raise PaymentConflict(message) from None


@dataclass(frozen=True)
class CallBounds:
    """How long a caller waits on Temporal before PaymentUnavailable: `quick` for signals,
    queries, describes and counts, `signal` for a provider's webhook or callback (all its calls
    together), `slow` for starts and updates that wait on a provider call."""

    quick: float = 5.0
    slow: float = 30.0
    signal: float = 0.5

    @classmethod
    def from_settings(cls, settings: PayflowSettings | None = None) -> CallBounds:
        """`PAYFLOW_TEMPORAL_RPC_TIMEOUT_SECONDS`, `..._UPDATE_TIMEOUT_SECONDS`, `..._SIGNAL_...`."""
        settings = settings or PayflowSettings()
        return cls(
            quick=settings.temporal_rpc_timeout_seconds,
            slow=settings.temporal_update_timeout_seconds,
            signal=settings.temporal_signal_timeout_seconds,
        )


@contextlib.asynccontextmanager
async def within(seconds: float, workflow_id: str) -> AsyncIterator[timedelta]:
    """`workflow_errors` under a deadline; yields the RPC timeout to pass to each call.

    The deadline is enforced here because the SDK retries an unreachable server for 10 s
    whatever the RPC timeout; past it nothing was decided here and PaymentUnavailable says so.
    """
    try:
        async with asyncio.timeout(seconds):
            with workflow_errors(workflow_id):
                yield timedelta(seconds=seconds)
    except TimeoutError:
        raise PaymentUnavailable(f"{workflow_id}: no answer within {seconds:g} s") from None


class Notifiable(Protocol):
    """A flow's request that may name where its merchant events go."""

    notify_url: str | None

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any: ...


NotifiableT = TypeVar("NotifiableT", bound=Notifiable)


def with_notify_url(
    request: NotifiableT, default: str | None, policy: NotifyPolicy | None = None
) -> NotifiableT:
    """The request with the merchant's default notification URL unless it names its own, which
    `policy` (the gateway's) must allow: UnsafeNotifyUrl before anything starts."""
    if request.notify_url is not None and policy is not None:
        policy.check(request.notify_url)
    if request.notify_url is not None or default is None:
        return request
    return cast(NotifiableT, request.model_copy(update={"notify_url": default}))


def identity_attributes(provider: str, order_id: str, status: str) -> TypedSearchAttributes:
    """The search attributes a payment workflow starts with, so it is findable at once."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(PAYMENT_PROVIDER, provider),
            SearchAttributePair(ORDER_ID, order_id),
            SearchAttributePair(PAYMENT_STATUS, status),
            SearchAttributePair(NEEDS_ATTENTION, False),
        ]
    )


async def start_or_join(
    client: Client,
    *,
    run: Callable[..., Awaitable[Any]],
    start_args: Sequence[Any],
    update: UpdateMethodMultiParam[[Any, Arg], Result],
    arg: Arg,
    workflow_id: str,
    task_queue: str,
    provider: str,
    order_id: str,
    initial_status: str,
    terms: Mapping[str, Any],
    seconds: float,
    memo: bool = True,
) -> Result:
    """Start the order's workflow or join the running one, and run `update` in the same call.

    Raises WorkflowAlreadyStartedError when the workflow has already ended (IDs are never
    reused; `same_terms` then tells a repeat from a conflict), WorkflowUpdateFailedError when
    the update refuses and PaymentUnavailable when Temporal does not answer within `seconds`
    (the workflow may have started: the same call repeated joins it). The workflow is started
    with `start_args`, the update sent `arg`. The Temporal UI's static details show `terms`;
    `memo` keeps them in the memo as well (where `same_terms` reads them back).
    """
    operation = WithStartWorkflowOperation(
        run,
        args=start_args,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=identity_attributes(provider, order_id, initial_status),
        memo=dict(terms) if memo else None,
        static_summary=f"{provider} order {order_id}",
        static_details="\n".join(f"**{key}:** {value}" for key, value in terms.items()),
    )
    try:
        async with asyncio.timeout(seconds):
            return await client.execute_update_with_start_workflow(
                update,
                arg,
                start_workflow_operation=operation,
                rpc_timeout=timedelta(seconds=seconds),
            )
    except RPCError as error:
        raise PaymentUnavailable(f"{workflow_id}: {error.message}") from error
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as error:
        raise PaymentUnavailable(f"{workflow_id}: no answer within {seconds:g} s") from error
    finally:
        _retrieve_start_outcome(operation)


def _retrieve_start_outcome(operation: WithStartWorkflowOperation[Any, Any]) -> None:
    """Read the start half's outcome, which the SDK keeps apart from the update's, whatever
    the call raised: a failure left unread is logged as "Future exception was never retrieved"
    when the operation is collected."""
    started = getattr(operation, "_workflow_handle", None)
    if isinstance(started, asyncio.Future) and started.done() and not started.cancelled():
        started.exception()


async def same_terms(
    client: Client,
    workflow_id: str,
    asked: Mapping[str, Any],
    *,
    what: str,
    order_id: str,
    seconds: float,
    from_input: Callable[[Any], Mapping[str, Any]] | None = None,
) -> None:
    """TermsConflict when the order's payment (ended, so no validator answers) was started on
    other terms than `asked`, read from the memo it was started with, or from its input by
    `from_input` when the memo lacks them (runs started without one)."""
    async with within(seconds, workflow_id) as rpc:
        handle = client.get_workflow_handle(workflow_id)
        kept: Mapping[str, Any] = await (await handle.describe(rpc_timeout=rpc)).memo()
        if from_input is not None and not asked.keys() <= kept.keys():
            kept = from_input(await _first_input(client, handle, rpc))
    changed = differing_terms(kept, asked)
    if changed:
        raise TermsConflict(f"order {order_id} already has {what} with other terms: {changed}")


async def _first_input(client: Client, handle: WorkflowHandle[Any, Any], rpc: timedelta) -> Any:
    """The run's first input argument, opened by the client's converter (and codec)."""
    async for event in handle.fetch_history_events(page_size=1, rpc_timeout=rpc):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        return (await client.data_converter.decode(payloads[:1]))[0]
    raise PaymentNotFound(handle.id)
