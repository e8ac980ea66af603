"""Typed Python API for Payment Assist checkouts, for backends that talk to Temporal directly."""

from __future__ import annotations

import asyncio
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.decisions import DecisionKeys
from ledger.store import Ledger
from payflow.decision_keys import DecisionProver
from payflow.documents import DocumentStore
from payflow.notify_targets import NotifyPolicy
from payflow.payment_records import PaymentRecords, live_or_kept
from payflow.recent import Recent
from payflow.search_attributes import PAYMENT_STATUS, PAYMENT_TOKEN_DIGEST
from payflow.settings import PayflowSettings
from payflow.workflow_calls import (
    CallBounds,
    PaymentConflict,
    PaymentNotFound,
    PaymentUnavailable,
    same_terms,
    start_or_join,
    with_notify_url,
    within,
    workflow_errors,
)
from state.checkout import CheckoutStatus
from state.checkout_models import (
    TOKEN_DIGEST,
    CheckoutRequest,
    CheckoutStarted,
    CheckoutView,
    CustomerReturn,
    InvoiceDocument,
    OperatorResolution,
    WebhookHint,
    token_digest,
)
from state.terms import TERMS_CONFLICT
from workflows.paymentassist_checkout import PaymentAssistCheckoutV3, checkout_workflow_id
from workflows.paymentassist_checkout_base import PROVIDER
from workflows.paymentassist_checkout_messages import HINT_NOT_BOUND, RESOLUTION_REFUSED

CONFIRM_SECONDS = 5.0
"""How long a customer's return waits for `/status` to confirm before the page says pending."""
WEBHOOK_UPDATE_SECONDS = 2.0
"""How long a webhook waits for its checkout to take it as an update before it is signalled
(well inside the lender's own timeout)."""
RETRY_AFTER_ABORT = 0.05
"""Before sending a return again whose workflow task failed under it (Temporal aborts it)."""
KNOWN_DIGESTS = 10_000
"""Token digests kept per gateway: a webhook for a recent checkout is signalled without a
`describe` first (about 100 bytes each)."""


class HintNotBound(LookupError):
    """A verified return or webhook whose token is not its order's, or an unknown order:
    nothing was signalled, and the two cases look the same from outside."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"the hint does not belong to order {order_id!r}")


class CheckoutNotStarted(PaymentConflict):
    """The checkout exists but has no application to send the customer to."""

    def __init__(self, view: CheckoutView) -> None:
        reason = view.failure_reason or view.attention_reason or view.status
        super().__init__(f"checkout {view.order_id} is {view.status}: {reason}")
        self.view = view


class ResolutionRefused(PaymentConflict):
    """The operator's token was not attached: `/status` or the token's claim said no."""

    def __init__(self, order_id: str, reason: str) -> None:
        super().__init__(f"checkout {order_id}: token not attached: {reason}")
        self.order_id = order_id
        self.reason = reason


class PaymentAssistCheckouts:
    """Start, inspect and steer checkouts; each order maps to exactly one workflow."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        public_url: str,
        documents: DocumentStore | None = None,
        bounds: CallBounds | None = None,
        notify_url: str | None = None,
        notify_policy: NotifyPolicy | None = None,
        ledger: Ledger | None = None,
        proofs: DecisionKeys | None = None,
    ) -> None:
        """Without `ledger` nothing is registered or kept after Temporal deletes a checkout
        (tests of the workflow alone); the gateway and the CLI always give one. Without
        `proofs` decisions are proven with the keys the settings name."""
        self._client = client
        self._prover = DecisionProver(client, proofs)
        self._notify_url = notify_url
        self._notify_policy = notify_policy
        self._task_queue = task_queue
        self._public_url = public_url.rstrip("/")
        self._documents = documents or DocumentStore.under(PayflowSettings().state_dir)
        self._bounds = bounds or CallBounds.from_settings()
        self._digests: Recent[str, str] = Recent(KNOWN_DIGESTS)
        self._records = PaymentRecords(ledger, client, self._bounds) if ledger else None

    def _with_callback_urls(self, request: CheckoutRequest) -> CheckoutRequest:
        """Point the customer's return and the provider's webhooks at our gateway."""
        query = urlencode({"order_id": request.order_id})
        return request.model_copy(
            update={
                "success_url": f"{self._public_url}/return/paymentassist?{query}",
                "failure_url": f"{self._public_url}/return/paymentassist?{query}",
                "webhook_url": f"{self._public_url}/webhooks/paymentassist?{query}",
            }
        )

    async def start(self, request: CheckoutRequest) -> CheckoutStarted:
        """Start the order's checkout, or join it if it exists; returns where to send the customer.

        The token the checkout answers with is remembered (as its digest), so the lender's
        webhooks for it are checked without asking Temporal first."""
        started = await self._start(request)
        self._digests.put(request.order_id, token_digest(started.token))
        return started

    async def _start(self, request: CheckoutRequest) -> CheckoutStarted:
        request = with_notify_url(
            self._with_callback_urls(request), self._notify_url, self._notify_policy
        )
        workflow_id = checkout_workflow_id(request.order_id)
        if self._records is not None:
            kept = await self._records.before_start(
                "checkout",
                PROVIDER,
                request.order_id,
                request.summary(),
                what="a checkout",
                workflow_id=workflow_id,
            )
            if kept is not None:
                return _started(CheckoutView.model_validate(kept.view))
        try:
            try:
                return await self._start_or_join(request, lean=True)
            except WorkflowUpdateFailedError as error:
                if _failure_type(error) in OUR_REFUSALS:
                    raise
                # a run of the type before V2 decodes a full request only: a refused update
                # leaves no trace, so join it the way it was started
                return await self._start_or_join(request, lean=False)
        except WorkflowAlreadyStartedError:
            await same_terms(
                self._client,
                workflow_id,
                request.summary(),
                what="a checkout",
                order_id=request.order_id,
                seconds=self._bounds.quick,
                from_input=_request_terms,
            )
            return await self._started_from_view(request.order_id)
        except WorkflowUpdateFailedError as error:
            if _failure_type(error) == "CheckoutNotStarted":
                raise CheckoutNotStarted(await self.get(request.order_id)) from None
            with workflow_errors(workflow_id):
                raise

    async def _start_or_join(self, request: CheckoutRequest, *, lean: bool) -> CheckoutStarted:
        """Start a V3 checkout with the request as its input and no memo, its `begin` sent the
        terms alone (`lean`), or join a running checkout (of any type) with the whole request."""
        return await start_or_join(
            self._client,
            run=PaymentAssistCheckoutV3.run,
            start_args=[request, None],
            update=PaymentAssistCheckoutV3.begin,
            arg=request.terms() if lean else request,
            workflow_id=checkout_workflow_id(request.order_id),
            task_queue=self._task_queue,
            provider=PROVIDER,
            order_id=request.order_id,
            initial_status=CheckoutStatus.CREATED.value,
            terms=request.summary(),
            seconds=self._bounds.slow,
            memo=False,
        )

    async def _started_from_view(self, order_id: str) -> CheckoutStarted:
        """A checkout that already ended: answer from its final state."""
        return _started(await self.get(order_id))

    def _handle(self, order_id: str) -> WorkflowHandle[PaymentAssistCheckoutV3, CheckoutView]:
        """The order's checkout, of whichever type it started as (they share every name)."""
        return self._client.get_workflow_handle_for(
            PaymentAssistCheckoutV3.run, checkout_workflow_id(order_id)
        )

    async def get(self, order_id: str) -> CheckoutView:
        """The checkout's whole state (after it has ended too, and from the ledger once
        Temporal has deleted it)."""
        return await live_or_kept(
            self._records,
            "checkout",
            order_id,
            self._handle(order_id),
            PaymentAssistCheckoutV3.state,
            self._bounds.quick,
            CheckoutView,
        )

    async def capture(self, order_id: str) -> CheckoutView:
        """Capture a `pending_capture` application (or ask for it to be captured on approval)."""
        async with within(self._bounds.slow, checkout_workflow_id(order_id)) as rpc:
            return await self._handle(order_id).execute_update(
                PaymentAssistCheckoutV3.request_capture, rpc_timeout=rpc
            )

    async def upload_invoice(self, order_id: str, document: InvoiceDocument) -> CheckoutView:
        """Hand over the invoice; it is uploaded once, when the lender requires it.

        The document is stored once in the document store (which the worker must share) and
        the checkout receives only its reference, so no history holds its bytes.
        """
        reference = await asyncio.to_thread(
            self._documents.put, document.content(), document.filetype
        )
        async with within(self._bounds.slow, checkout_workflow_id(order_id)) as rpc:
            return await self._handle(order_id).execute_update(
                PaymentAssistCheckoutV3.upload_invoice, reference, rpc_timeout=rpc
            )

    async def cancel(self, order_id: str) -> CheckoutView:
        """Cancel a checkout that has not completed."""
        async with within(self._bounds.slow, checkout_workflow_id(order_id)) as rpc:
            return await self._handle(order_id).execute_update(
                PaymentAssistCheckoutV3.cancel, rpc_timeout=rpc
            )

    async def resolve(self, order_id: str, resolution: OperatorResolution) -> CheckoutView:
        """An operator's answer to a checkout in needs attention.

        A token is attached only when `/status` shows an application for the checkout's amount
        that no other checkout holds; otherwise ResolutionRefused says why.
        """
        resolution = self._prover.prove(checkout_workflow_id(order_id), resolution)
        async with within(self._bounds.slow, checkout_workflow_id(order_id)) as rpc:
            try:
                return await self._handle(order_id).execute_update(
                    PaymentAssistCheckoutV3.resolve, resolution, rpc_timeout=rpc
                )
            except WorkflowUpdateFailedError as error:
                failure = error.cause
                if isinstance(failure, ApplicationError) and failure.type == RESOLUTION_REFUSED:
                    reason = str(failure.details[0]) if failure.details else failure.message
                    raise ResolutionRefused(order_id, reason) from None
                raise

    async def check_now(self, order_id: str) -> None:
        """Ask the checkout to read `/status` now: an operator's reconciliation, nothing sent."""
        async with within(self._bounds.quick, checkout_workflow_id(order_id)) as rpc:
            await self._handle(order_id).signal(PaymentAssistCheckoutV3.check_now, rpc_timeout=rpc)

    async def _shown(self, order_id: str, seconds: float | None = None) -> dict[str, Any]:
        """The checkout's memo with its status and token digest (from search attributes; older
        runs keep them in the memo), readable with no worker running."""
        workflow_id = checkout_workflow_id(order_id)
        async with within(seconds or self._bounds.quick, workflow_id) as rpc:
            description = await self._handle(order_id).describe(rpc_timeout=rpc)
        memo = dict(await description.memo())
        status = description.typed_search_attributes.get(PAYMENT_STATUS)
        if status is not None:
            memo["status"] = status
        digest = description.typed_search_attributes.get(PAYMENT_TOKEN_DIGEST)
        if digest is not None:
            memo[TOKEN_DIGEST] = digest
        digest = memo.get(TOKEN_DIGEST)
        if isinstance(digest, str) and digest:
            self._digests.put(order_id, digest)
        return memo

    async def _bound(self, order_id: str, token: str) -> dict[str, Any]:
        """The checkout's memo, if `token` is its application's; HintNotBound otherwise (an
        unknown order looks the same, so nothing tells a stranger whether an order exists)."""
        try:
            memo = await self._shown(order_id)
        except (PaymentNotFound, PaymentConflict):
            raise HintNotBound(order_id) from None
        if not _same_digest(str(memo.get(TOKEN_DIGEST, "")), token):
            raise HintNotBound(order_id)
        return memo

    async def customer_returned(
        self, order_id: str, hint: CustomerReturn, *, confirm_seconds: float = CONFIRM_SECONDS
    ) -> str:
        """Forward a verified return to its own checkout only and answer what `/status` has
        confirmed since, never what the return link claims.

        One update: the checkout refuses another order's token before recording anything
        (HintNotBound) and answers once a check that started after the return has ended. A
        checkout that cannot answer within `confirm_seconds` (its worker busy or paused) gets
        the return as a signal too, and the page says pending; an ended one answers its final
        status."""
        seconds = min(confirm_seconds, self._bounds.quick)
        try:
            taken, status = await self._hint_by_update(
                order_id,
                PaymentAssistCheckoutV3.return_confirmed,
                hint,
                seconds,
                retry_aborted=True,
            )
        except PaymentConflict:  # it has ended: its final state is the answer
            return await self._ended_status(order_id, hint.token)
        return str(status) if taken else await self._signal_return(order_id, hint)

    async def _hint_by_update(
        self,
        order_id: str,
        update: Any,
        hint: CustomerReturn | WebhookHint,
        seconds: float,
        *,
        retry_aborted: bool,
    ) -> tuple[bool, Any]:
        """Hand a verified hint to its checkout as an update; (True, its answer) once taken,
        (False, None) when the checkout cannot take it within `seconds` (the caller signals
        it). HintNotBound for another order's token or an unknown order, PaymentConflict once
        it has ended. `retry_aborted`: send it again when Temporal aborted it because the task
        that carried it failed (a signal came in meanwhile)."""
        clock = asyncio.get_running_loop().time
        deadline = clock() + seconds
        try:
            async with asyncio.timeout(seconds):
                with workflow_errors(checkout_workflow_id(order_id)):
                    while True:
                        try:
                            answer = await self._handle(order_id).execute_update(
                                update, hint, rpc_timeout=timedelta(seconds=seconds)
                            )
                            return True, answer
                        except WorkflowUpdateFailedError as error:
                            if _failure_type(error) == HINT_NOT_BOUND:
                                raise HintNotBound(order_id) from None
                            raise
                        except RPCError as error:
                            aborted = error.status == RPCStatusCode.FAILED_PRECONDITION
                            if not (retry_aborted and aborted):
                                raise
                            if clock() + RETRY_AFTER_ABORT > deadline:
                                return False, None
                            await asyncio.sleep(RETRY_AFTER_ABORT)
        except PaymentNotFound:
            raise HintNotBound(order_id) from None
        except (TimeoutError, PaymentUnavailable):
            return False, None

    async def _signal_return(self, order_id: str, hint: CustomerReturn) -> str:
        """The return as a signal, which Temporal keeps whether or not a worker runs (the
        checkout ignores another order's token): not confirmed yet, so awaiting the customer."""
        try:
            async with within(self._bounds.quick, checkout_workflow_id(order_id)) as rpc:
                await self._handle(order_id).signal(
                    PaymentAssistCheckoutV3.customer_returned, hint, rpc_timeout=rpc
                )
        except PaymentConflict:
            return await self._ended_status(order_id, hint.token)
        except PaymentNotFound:
            raise HintNotBound(order_id) from None
        return CheckoutStatus.AWAITING_CUSTOMER.value

    async def _ended_status(self, order_id: str, token: str) -> str:
        """The final status of a checkout that has ended, if `token` is its application's:
        from the ledger, which has its final view before the workflow ends (from Temporal only
        for a checkout the ledger never recorded)."""
        kept = await self._records.closed_view("checkout", order_id) if self._records else None
        if kept is None:
            return str((await self._bound(order_id, token)).get("status", ""))
        if not hmac.compare_digest(str(kept.get("token") or "").encode(), token.encode()):
            raise HintNotBound(order_id)
        return str(kept.get("status", ""))

    async def webhook_received(self, order_id: str, hint: WebhookHint) -> None:
        """Forward a verified webhook to its own checkout only (HintNotBound otherwise;
        PaymentConflict once it has ended).

        One update, which the checkout's validator refuses for another order's token: unlike a
        signal, it never makes Temporal reject the task that completes the checkout (the
        customer's return comes at the same moment). A checkout that cannot take it within
        `WEBHOOK_UPDATE_SECONDS` (its worker busy or paused) gets it as a signal, which
        Temporal keeps whether or not a worker runs."""
        seconds = min(WEBHOOK_UPDATE_SECONDS, self._bounds.quick)
        taken, _ = await self._hint_by_update(
            order_id, PaymentAssistCheckoutV3.webhook_taken, hint, seconds, retry_aborted=False
        )
        if not taken:
            await self._signal_webhook(order_id, hint)

    async def _signal_webhook(self, order_id: str, hint: WebhookHint) -> None:
        """The webhook as a signal, after its token is checked against the checkout's digest
        (kept from the start's answer or read with a `describe`)."""
        async with within(self._bounds.signal, checkout_workflow_id(order_id)) as rpc:
            known = self._digests.get(order_id)
            if known is None or not _same_digest(known, hint.token):
                self._digests.discard(order_id)
                await self._bound(order_id, hint.token)
            await self._handle(order_id).signal(
                PaymentAssistCheckoutV3.webhook_received, hint, rpc_timeout=rpc
            )


OUR_REFUSALS = frozenset({"CheckoutNotStarted", TERMS_CONFLICT})
"""Update failures a V2 checkout answers with: anything else is a run that cannot read terms."""


def _started(view: CheckoutView) -> CheckoutStarted:
    """Where to send the customer of a checkout that exists; CheckoutNotStarted without one."""
    if view.token is None or view.url is None:
        raise CheckoutNotStarted(view)
    return CheckoutStarted(
        order_id=view.order_id, token=view.token, url=view.url, status=view.status
    )


def _failure_type(error: WorkflowUpdateFailedError) -> str | None:
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _request_terms(request: Any) -> dict[str, object]:
    """The terms a checkout was started with, from its input (V2 keeps no memo)."""
    return CheckoutRequest.model_validate(request).summary()


def _same_digest(digest: str, token: str) -> bool:
    """Whether `digest` is the memo's digest of `token`, compared in constant time."""
    return hmac.compare_digest(digest.encode(), token_digest(token).encode())
