"""`PaymentAssistCheckout`: the first checkout generation, retired, registered only while runs
of it may still be open or queried. Checkouts start as `PaymentAssistCheckoutV3`.

Its runs replay as recorded: what V3 takes by its type, this one took through patches (a
fresh run's visibility, `LEAN_VISIBILITY`; local `/status` reads, `workflows.calls.LOCAL_READS`;
coalesced hints, `COALESCE_HINTS`; the ledger, `workflows.ledger.LEDGER_PATCH`); it claims a
`/begin` token at once (V3 checks the claim only before completing), shows status and the
token's digest in the memo, and its `begin` reads a whole request only.

Retire it when, in every namespace payflow runs in,

    temporal workflow count --query 'WorkflowType="PaymentAssistCheckout"'

says 0: no run is open (`AND ExecutionStatus="Running"` counts those; a run continued as new
stays this type) and retention has deleted the closed ones (their `state` query replays on a
worker that knows the type). Then delete this module, its entry in `worker.RETIRING`, its
goldens (`tests/replay/histories/PaymentAssistCheckout-*.json`), its registration in the
timeskipping tests' workers and `test_a_checkout_of_the_type_before_is_joined_with_its_whole_request`
(tests/flows/test_repeated_starts.py). `LEAN_VISIBILITY` and `COALESCE_HINTS` go with it, and
the hooks below fold back into V3 once no other generation overrides them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from providers.paymentassist.models import ApplicationStatus
    from state.checkout_models import (
        TOKEN_DIGEST,
        CheckoutRequest,
        CheckoutStarted,
        CheckoutState,
        CheckoutView,
        token_digest,
    )
    from workflows.calls import async_update
    from workflows.ledger import LedgerRecorder
    from workflows.paymentassist_checkout import PaymentAssistCheckoutV3
    from workflows.paymentassist_checkout_base import PROVIDER
    from workflows.paymentassist_checkout_messages import BEGIN_UPDATE
    from workflows.terms import refuse_other_terms
    from workflows.visibility import publish_identity, publish_status

LEAN_VISIBILITY = "lean-visibility"
"""Patch, taken at a run's first task: the starter's search attributes name the checkout (no
upsert of its own), the memo is written only when the token's digest changes (the status is in
search attributes alone), and `/status` reads are local activities without a patch of their
own: two events and two visibility updates fewer per checkout."""
COALESCE_HINTS = "coalesce-hints-after-a-check"
"""Patch: a hint soon after a check is counted or waits for the next check (runs from before
checked at once)."""


@workflow.defn(name="PaymentAssistCheckout")
class PaymentAssistCheckout(PaymentAssistCheckoutV3):
    """A checkout started as the first type: V3's steps, with its own patches and claims."""

    @workflow.init
    def __init__(self, request: CheckoutRequest, carried: CheckoutState | None = None) -> None:
        super().__init__(request, carried)
        self._lean = False
        """`LEAN_VISIBILITY` taken (decided at a fresh run's first task; a continued run
        never takes it)."""

    @workflow.run
    async def run(
        self, request: CheckoutRequest, carried: CheckoutState | None = None
    ) -> CheckoutView:
        return await super().run(request, carried)

    def _new_recorder(self) -> LedgerRecorder:
        """Writes to the ledger only if `LEDGER_PATCH` is taken at the first change."""
        return LedgerRecorder(self._s.recorded, kind="checkout", provider=PROVIDER, view=self.state)

    def _name_in_visibility(self) -> None:
        self._lean = workflow.patched(LEAN_VISIBILITY)
        if self._lean:  # the starter's search attributes already name the checkout
            self._s.status_in_memo = False
        else:
            publish_identity(PROVIDER, self._request.order_id, self._status)

    def _local_reads(self) -> bool:
        return self._lean  # else `read` asks its own patch (`LOCAL_READS`)

    async def _read_status(self, token: str) -> ApplicationStatus:
        return await self._status_of(token)

    async def _took_token(self, token: str) -> None:
        await self._claim(token)

    async def _claimed_elsewhere(self, status: ApplicationStatus) -> bool:
        return False  # its `/begin` tokens and attached ones are claimed when taken

    async def _shown_elsewhere(self, token: str) -> str | None:
        return None  # the claim alone decides

    def _coalesces_hints(self) -> bool:
        return workflow.patched(COALESCE_HINTS)

    def _show_in_visibility(self, flagged: bool) -> None:
        """Status and attention in search attributes; the memo repeats them (runs from before
        `LEAN_VISIBILITY`) or holds the token's digest when it changed."""
        token = self._s.token
        digest = token_digest(token) if token else None
        if self._s.status_in_memo:
            details = {TOKEN_DIGEST: digest} if digest else None
            publish_status(self._status, needs_attention=flagged, details=details)
            return
        details = None
        if digest is not None and digest != self._memo_digest:
            details = {TOKEN_DIGEST: digest}
        self._memo_digest = digest
        publish_status(self._status, needs_attention=flagged, details=details, status_in_memo=False)

    @async_update(BEGIN_UPDATE)
    async def begin(self, request: CheckoutRequest) -> CheckoutStarted:  # type: ignore[override]
        """Answer the starter with the token and continuation URL once `/begin` has run (this
        type's starters sent the whole request)."""
        return await self._started()

    @begin.validator
    def _validate_begin(self, request: CheckoutRequest) -> None:  # type: ignore[override]
        refuse_other_terms("a checkout", self._request, request)
