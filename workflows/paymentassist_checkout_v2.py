"""`PaymentAssistCheckoutV2`: a retired checkout generation, registered only while runs of it
may still be open or queried. Checkouts start as `PaymentAssistCheckoutV3` since it came.

It differs from V3 in two things: its input carries a third argument, `ledger` (runs started
before the ledger of record never write to it; nothing in their history says otherwise), and
its `/status` reads are plain (V3 reads the token's claim in the same local activity).

Retire it when, in every namespace payflow runs in,

    temporal workflow count --query 'WorkflowType="PaymentAssistCheckoutV2"'

says 0: no run is open (`AND ExecutionStatus="Running"` counts those; a run continued as new
stays this type) and retention has deleted the closed ones (their `state` query replays on a
worker that knows the type). Then delete this module, its entry in `worker.RETIRING`, its
goldens (`tests/replay/histories/PaymentAssistCheckoutV2-*.json`), its registration in the
timeskipping tests' workers and `test_begin_of_the_current_type_reads_a_whole_request_as_one`
(tests/paymentassist/test_checkout_state.py).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from providers.paymentassist.models import ApplicationStatus
    from state.checkout_models import CheckoutRequest, CheckoutState, CheckoutView
    from workflows.ledger import LedgerRecorder
    from workflows.paymentassist_checkout import PaymentAssistCheckoutV3
    from workflows.paymentassist_checkout_base import PROVIDER


@workflow.defn(name="PaymentAssistCheckoutV2")
class PaymentAssistCheckoutV2(PaymentAssistCheckoutV3):
    """A checkout started as V2: V3's steps, its own input and ledger switch, plain reads."""

    @workflow.init
    def __init__(
        self, request: CheckoutRequest, carried: CheckoutState | None = None, ledger: bool = False
    ) -> None:
        """`ledger`: started to write to the ledger of record (runs started before it, without
        the argument, never write; nothing in their history says otherwise)."""
        self._started_to_record = ledger
        super().__init__(request, carried)

    @workflow.run
    async def run(
        self, request: CheckoutRequest, carried: CheckoutState | None = None, ledger: bool = False
    ) -> CheckoutView:
        return await super().run(request, carried)

    def _new_recorder(self) -> LedgerRecorder:
        recorder = LedgerRecorder(
            self._s.recorded,
            kind="checkout",
            provider=PROVIDER,
            view=self.state,
            started_on=self._started_to_record,
        )
        if not self._s.recorded.on:
            recorder.off()
        return recorder

    async def _read_status(self, token: str) -> ApplicationStatus:
        return await self._status_of(token)  # no claim read with it: `_claim_of` asks apart
