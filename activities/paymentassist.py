"""Payment Assist activities: one provider call each, credentials held by the worker only."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import provider_call
from payflow.documents import DocumentMissing, DocumentStore
from payflow.recent import Recent
from payflow.search_attributes import PAYMENT_TOKEN_DIGEST
from providers.errors import Transient
from providers.paymentassist.client import PaymentAssistClient
from providers.paymentassist.errors import NotSent
from providers.paymentassist.models import (
    ApplicationStatus,
    AppStatus,
    BeginRequest,
    BeginResult,
    CaptureResult,
    InvoiceFileType,
    InvoiceResult,
    PreapprovalRequest,
    UpdateResult,
)
from state.checkout_health import NOT_SENT, SENDING
from state.checkout_models import InvoiceReference, TokenClaim
from workflows.paymentassist_token_claim import claim_workflow_id

MAYBE_SENT = "MaybeSent"
DOCUMENT_MISSING = "DocumentMissing"
MARK_TIMEOUT = timedelta(seconds=5)
LOOKUP_TIMEOUT = timedelta(seconds=5)
REMEMBERED_READS = 10_000
"""`/status` reads kept per worker for a redone workflow task (a few hundred bytes each)."""
HOLDERS_SHOWN = 5
"""Other checkouts named in a refusal: one is enough to refuse."""


class BegunApplication(BeginResult):
    """`/begin`'s answer; `claimed` is True only in results recorded when `/begin` also
    started the token's claim (older checkout types claim it themselves otherwise)."""

    claimed: bool = False


class ClaimedStatus(BaseModel):
    """`/status`'s answer and, when it says completed (`claim_read`), the token's claim: None
    when no checkout claimed it."""

    status: ApplicationStatus
    claim_read: bool = False
    claim: TokenClaim | None = None


class TokenHolders(BaseModel):
    """Which checkouts other than `exclude` (a workflow ID) show a token's digest."""

    digest: str
    exclude: str


@contextlib.contextmanager
def sent_once() -> Iterator[None]:
    """For calls that must not be repeated blindly: Temporal retries none of their failures.

    NotSent (nothing reached the lender) lets the workflow resend; MaybeSent (the request may
    have arrived) sends it to the provider's status instead.
    """
    with provider_call():
        try:
            yield
        except NotSent as error:
            raise ApplicationError(str(error), type=NOT_SENT, non_retryable=True) from None
        except Transient as error:
            raise ApplicationError(str(error), type=MAYBE_SENT, non_retryable=True) from None


class ApplicationUpdate(BaseModel):
    """One `/update` call: rename after completion, or change expiry or amount before it."""

    token: str
    order_id: str | None = None
    expiry: int | None = None
    amount: int | None = None


class InvoiceUpload(BaseModel):
    """One `/invoice` call: the stored document's reference, read from the store by the
    activity (`data_base64` only from runs before documents were stored outside Temporal)."""

    token: str
    filetype: InvoiceFileType
    document: InvoiceReference | None = None
    data_base64: str | None = None


class PaymentAssistActivities:
    """Activities bound to one dealer's client; registered on the worker."""

    def __init__(
        self,
        client: PaymentAssistClient,
        temporal: Client | None = None,
        *,
        documents: DocumentStore | None = None,
    ) -> None:
        self._client = client
        self._temporal = temporal
        self._documents = documents
        self._reads: Recent[tuple[str, str], ClaimedStatus] = Recent(REMEMBERED_READS)

    async def _mark_sending(self) -> None:
        """Have Temporal record that this attempt is about to send, before it sends.

        An attempt that timed out without the mark provably sent nothing (the workflow may
        resend), and an attempt that runs after its timeout cannot record it, so never sends.
        Without a Temporal client (tests of the activity alone) there is nothing to record.
        """
        if self._temporal is None:
            return
        handle = self._temporal.get_async_activity_handle(task_token=activity.info().task_token)
        try:
            await handle.heartbeat(SENDING, rpc_timeout=MARK_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - any failure means: do not send
            raise NotSent(f"not sent: the send was not recorded ({type(error).__name__})") from None

    @activity.defn(name="paymentassist.preapproval")
    async def preapproval(self, request: PreapprovalRequest) -> bool:
        """Ask whether the customer passes pre-approval (no credit footprint)."""
        with provider_call():
            return await self._client.preapproval(request)

    @activity.defn(name="paymentassist.begin")
    async def begin(self, request: BeginRequest) -> BegunApplication:
        """Create the application; run once per attempt, resent only when it never left.

        The token is not claimed here (a workflow start per checkout): it came from `/begin`
        for this very order, and only an operator's attach claims a token."""
        with sent_once():
            await self._mark_sending()
            result = await self._client.begin(request)
        return BegunApplication(**result.model_dump())

    @activity.defn(name="paymentassist.token_holders")
    async def token_holders(self, holders: TokenHolders) -> list[str]:
        """Workflow IDs of other checkouts whose search attributes show the token's digest."""
        if self._temporal is None:
            return []
        query = f'{PAYMENT_TOKEN_DIGEST.name} = "{holders.digest}"'
        found: list[str] = []
        async for execution in self._temporal.list_workflows(
            query, limit=HOLDERS_SHOWN + 1, rpc_timeout=LOOKUP_TIMEOUT
        ):
            if execution.id != holders.exclude and execution.id not in found:
                found.append(execution.id)
        return found[:HOLDERS_SHOWN]

    @activity.defn(name="paymentassist.token_holder")
    async def token_holder(self, token: str) -> TokenClaim | None:
        """The claim on a token, read from its start (claims that never ran have no state to
        query); None when no checkout claimed it."""
        if self._temporal is None:
            return None
        handle = self._temporal.get_workflow_handle(claim_workflow_id(token))
        try:
            async for event in handle.fetch_history_events(rpc_timeout=LOOKUP_TIMEOUT):
                started = event.workflow_execution_started_event_attributes
                [claim] = await self._temporal.data_converter.decode(
                    started.input.payloads, [TokenClaim]
                )
                return TokenClaim.model_validate(claim)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return None

    @activity.defn(name="paymentassist.status_with_claim")
    async def status_with_claim(self, token: str) -> ClaimedStatus:
        """`/status`, and when it says completed, the token's claim too: the check that may
        complete a checkout is one local activity, not two.

        When Temporal rejects the workflow task that ran it (a hint came in as the checkout
        completed), the worker redoes the task and runs this same local activity again: it
        answers what it read the first time instead of asking the lender twice."""
        info = activity.info()
        run = info.workflow_run_id
        redo = (run, info.activity_id) if info.is_local and run is not None else None
        remembered = self._reads.get(redo) if redo is not None else None
        if remembered is not None:
            return remembered
        status = await self.status(token)
        read = ClaimedStatus(status=status)
        if status.status == AppStatus.COMPLETED:
            read = ClaimedStatus(
                status=status, claim_read=True, claim=await self.token_holder(token)
            )
        if redo is not None:
            self._reads.put(redo, read)
        return read

    @activity.defn(name="paymentassist.status")
    async def status(self, token: str) -> ApplicationStatus:
        """Read the application's status: the truth every decision rests on."""
        with provider_call():
            return await self._client.status(token)

    @activity.defn(name="paymentassist.capture")
    async def capture(self, token: str) -> CaptureResult:
        """Finalise a `pending_capture` application (collects the deposit, can take seconds)."""
        with sent_once():
            await self._mark_sending()
            return await self._client.capture(token)

    @activity.defn(name="paymentassist.update")
    async def update(self, change: ApplicationUpdate) -> UpdateResult:
        """Rename, re-time or lower an application."""
        with provider_call():
            return await self._client.update(
                change.token, order_id=change.order_id, expiry=change.expiry, amount=change.amount
            )

    @activity.defn(name="paymentassist.invoice")
    async def invoice(self, upload: InvoiceUpload) -> InvoiceResult:
        """Upload the customer's invoice, read from the document store, so the lender releases
        the funds; a document the store does not have fails at once (DocumentMissing)."""
        content = self._document(upload)
        with provider_call():
            return await self._client.invoice(upload.token, upload.filetype, content)

    def _document(self, upload: InvoiceUpload) -> bytes:
        if upload.document is None:
            return base64.b64decode(upload.data_base64 or "")
        if self._documents is None:
            raise ApplicationError(
                "this worker has no document store", type=DOCUMENT_MISSING, non_retryable=True
            )
        try:
            return self._documents.read(upload.document)
        except DocumentMissing as error:
            raise ApplicationError(str(error), type=DOCUMENT_MISSING, non_retryable=True) from None
