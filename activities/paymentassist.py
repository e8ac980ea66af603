"""Payment Assist activities: one provider call each, credentials held by the worker only."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from activities.errors import provider_call
from payflow.documents import DocumentMissing, DocumentStore
from providers.errors import Transient
from providers.paymentassist.client import PaymentAssistClient
from providers.paymentassist.errors import NotSent
from providers.paymentassist.models import (
    ApplicationStatus,
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
from workflows.paymentassist_token_claim import (
    CLAIM_HELD_FOR,
    PaymentAssistTokenClaim,
    claim_workflow_id,
)

MAYBE_SENT = "MaybeSent"
DOCUMENT_MISSING = "DocumentMissing"
MARK_TIMEOUT = timedelta(seconds=5)
CLAIM_TIMEOUT = timedelta(seconds=5)


class BegunApplication(BeginResult):
    """`/begin`'s answer, and whether its token's claim was started with it (else the
    checkout claims it itself)."""

    claimed: bool = False


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
        """Create the application; run once per attempt, resent only when it never left."""
        with sent_once():
            await self._mark_sending()
            result = await self._client.begin(request)
        claimed = await self._claim(TokenClaim(token=result.token, order_id=request.order_id))
        return BegunApplication(**result.model_dump(), claimed=claimed)

    async def _claim(self, claim: TokenClaim) -> bool:
        """Hold a fresh token for its checkout with a claim that never runs a task (started
        with a delay beyond any checkout), so holding it costs no worker anything. False
        when it could not be started: the checkout then claims it as a child workflow."""
        if self._temporal is None:
            return False
        try:
            await self._temporal.start_workflow(
                PaymentAssistTokenClaim.run,
                claim,
                id=claim_workflow_id(claim.token),
                task_queue=activity.info().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                start_delay=CLAIM_HELD_FOR,
                memo={"order_id": claim.order_id},
                rpc_timeout=CLAIM_TIMEOUT,
            )
        except Exception:  # noqa: BLE001 - the token is never lost: the checkout claims it
            activity.logger.warning("token claim not started with /begin", exc_info=True)
            return False
        return True

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
