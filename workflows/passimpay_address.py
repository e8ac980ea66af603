"""One Passimpay H2H deposit address per order: each deposit credited once; open until closed.

Passimpay documents no status API for H2H deposits: a verified callback that names this order's
address, tag and currency is the provider's statement of the deposit, credited once it reached
its confirmations (UTXO coins at the second). Where the platform also answers `/v3/orderstatus`
for the address's orderId in its own coin, that count cross-checks the credit: it must cover the
deposit after every other deposit it counted (credited or rejected). A contradiction (not
covered by `confirm_deadline_seconds`), or a callback that does not name the address, waits for
an operator, who credits or rejects it.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import REFUSED
    from activities.passimpay import AddressLookup, PassimpayActivities
    from state.decision import DECISION_REFUSED
    from state.deposit_ledger import DepositEvent, LedgerEntry, RecordOutcome
    from state.passimpay_address import AddressStatus, unconfirmed_reason
    from state.passimpay_models import (
        AddressAssignment,
        AddressOpened,
        AddressRequest,
        AddressState,
        DepositResolution,
        OrderReading,
        foreign_address,
        names_this_address,
    )
    from workflows.calls import (
        STATUS_RETRY,
        async_update,
        call,
        failure_message,
        failure_type,
        history_is_long,
    )
    from workflows.ledger import LedgerRecorder
    from workflows.notifications import Notifier
    from workflows.proofs import PROOF_PATCH, refusal
    from workflows.terms import refuse_other_terms
    from workflows.visibility import Tracked

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-address:"
FLAGGED_POLL_SECONDS = 300.0
"""Polling while every unsettled deposit already waits for an operator."""
TAG = "destination_tag"
CALLBACK_WORD_PATCH = "h2h-callback-is-the-providers-word"
"""Matching callbacks are credited without a status answer, and the provider's count must cover
a deposit after every settled one. Retire once no address opened before this deploy is open."""
FOREIGN_ADDRESS_PATCH = "deposit-to-another-address-is-held"
"""A deposit whose addressTo is not ours is held for an operator (docs/deploying.md: "Changing a running
workflow safely"); deprecate it once no address run from before it is left."""


def address_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's deposit address."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def _deposit_key(key: str) -> str:
    return f"deposit:{key}"


@workflow.defn
class PassimpayAddress(Tracked[AddressState]):
    """Keeps one address's ledger; continue-as-new keeps the history short, the ledger whole."""

    @workflow.init
    def __init__(self, request: AddressRequest, carried: AddressState | None = None) -> None:
        self._request = request
        self._s = carried or AddressState.start(request)
        self._signals_this_run = 0
        self._close_requested = False
        self._hinted = False
        self._notifier: Notifier = Notifier(
            self._s.notifications, provider=PROVIDER, flow="address"
        )
        self._recorder: LedgerRecorder = LedgerRecorder(
            self._s.recorded, kind="address", provider=PROVIDER, view=self.state
        )

    @workflow.run
    async def run(
        self, request: AddressRequest, carried: AddressState | None = None
    ) -> AddressState:
        self._notifier.resume()
        self._recorder.resume(self._s.order_id)
        await self._flow(request, carried)
        await self._notifier.drained()
        await self._recorder.closed(self._s.order_id, self._s.status, self._s.needs_attention)
        return self.state()

    async def _flow(self, request: AddressRequest, carried: AddressState | None) -> AddressState:
        self._publish_identity(PROVIDER)
        if carried is None and not await self._assign():
            return self.state()
        while not self._time_to_continue_as_new():
            if self._close_requested and self._status != AddressStatus.CLOSED:
                self._move("close")
            if self._status == AddressStatus.CLOSED and not self._unsettled():
                break
            checked = True
            if self._unsettled():
                checked = await self._confirm_with_provider()
            await self._sleep(checked)
        if self._close_requested and self._status != AddressStatus.CLOSED:
            self._move("close")  # the close update must finish before this run ends
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._status == AddressStatus.CLOSED and not self._unsettled():
            return self.state()
        self._s.runs += 1
        workflow.continue_as_new(args=[request, self._s])

    def _time_to_continue_as_new(self) -> bool:
        """Every callback counts, repeats included: each one is an event in this run."""
        return self._signals_this_run >= self._request.continue_as_new_after or history_is_long()

    async def _sleep(self, checked: bool) -> None:
        """Until a callback, a close or an operator wakes us; poll while deposits are unsettled."""
        timeout: float | None = None
        unsettled = self._unsettled()
        if unsettled:
            timeout = self._request.timing.confirm_poll_seconds
            if all(entry.flag for entry in unsettled):  # an operator's turn: poll slowly
                timeout = max(timeout, FLAGGED_POLL_SECONDS)
            if not checked:
                timeout = self._s.checks.retry_after(timeout)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self._hinted
                    or (self._close_requested and self._status != AddressStatus.CLOSED)
                    or self._time_to_continue_as_new()
                ),
                timeout=timeout,
                timeout_summary="next deposit confirmation check",
            )
        self._hinted = False

    async def _assign(self) -> bool:
        """Learn the currency's confirmation needs, then ask for the address (and tag)."""
        request = self._request
        try:
            facts = await call(PassimpayActivities.currency, request.payment_id)
            assigned = await call(
                PassimpayActivities.address,
                AddressLookup(payment_id=request.payment_id, order_id=request.order_id),
            )
        except ActivityError as error:
            self._s.failure_reason = f"no address: {failure_message(error)}"
            self._move("reject", self._s.failure_reason)
            return False
        self._s.required_confirmations = request.required_confirmations or (2 if facts.utxo else 1)
        self._s.ticker = facts.ticker
        self._s.address = assigned.address
        self._s.destination_tag = assigned.destination_tag
        for entry in self._s.ledger.unsettled():  # callbacks that came before the address
            entry.required_confirmations = self._s.required_confirmations
            self._hold_if_foreign(entry)
        if facts.tag and not assigned.destination_tag:
            reason = f"{facts.ticker} needs a destination tag but none came"
            self._s.failure_reason = reason
            self._s.attention.raise_(TAG, reason)
        self._move("assign")
        return True

    # ---- confirmation with the provider ------------------------------------------------------

    def _unsettled(self) -> list[LedgerEntry]:
        return self._s.ledger.unsettled()

    async def _confirm_with_provider(self) -> bool:
        """Credit what the provider confirms; flag what it cannot, or not in time."""
        state = self._s
        try:
            if state.ticker is None:  # a ledger carried from a run that did not keep it
                facts = await call(
                    PassimpayActivities.currency,
                    self._request.payment_id,
                    retry_policy=STATUS_RETRY,
                )
                state.ticker = facts.ticker
            status = await call(
                PassimpayActivities.order_status,
                self._request.order_id,
                retry_policy=STATUS_RETRY,
            )
        except ActivityError as error:
            message = failure_message(error)
            if failure_type(error) == REFUSED:
                self._check_answered()
                self._credit_named(f"/v3/orderstatus does not know the order ({message})")
                self._flag_waiting(f"the provider cannot confirm it: {message}", all_reached=True)
                return True
            self._check_failed(message, self._request.timing.attention_after_seconds)
            self._flag_waiting("not confirmed in time; status checks are failing")
            return False
        self._check_answered()
        state.provider = OrderReading.model_validate(status, from_attributes=True)
        self._credit_covered(state.provider)
        return True

    def _credit_named(self, why_unchecked: str) -> None:
        """Credit the reached deposits whose verified callback names this address: the
        provider's word, with no count to cross-check it (`why_unchecked`)."""
        if not workflow.patched(CALLBACK_WORD_PATCH):
            return
        ledger, assigned = self._s.ledger, self.assignment()
        note = f"the provider's signed callback names this address; {why_unchecked}"
        for entry in self._unsettled():
            named = entry.reached and not entry.late and names_this_address(assigned, entry)
            if named and ledger.credit(entry.key, workflow.now(), note):
                self._unflag(_deposit_key(entry.key))
        ledger.compact()

    def _credit_covered(self, reading: OrderReading) -> None:
        ledger = self._s.ledger
        ticker = self._s.ticker or ""
        unit = (reading.currency or "").strip().upper()
        if unit != ticker.upper():
            self._credit_named(f"/v3/orderstatus counts in {reading.currency!r}, not {ticker}")
            self._flag_waiting(
                f"the provider reports amountPaid in {reading.currency!r}, not {ticker}: "
                "the amounts cannot be compared",
                all_reached=True,
            )
            return
        paid = reading.amount_paid or Decimal(0)
        strict = workflow.patched(CALLBACK_WORD_PATCH)
        for key in ledger.covered(self._request.payment_id, paid, after_settled=strict):
            note = f"/v3/orderstatus amountPaid {paid} {reading.currency} covers it"
            if ledger.credit(key, workflow.now(), note):
                self._unflag(_deposit_key(key))
        ledger.compact()
        self._flag_waiting(f"the provider reports only {paid} {reading.currency} received")

    def _flag_waiting(self, why: str, *, all_reached: bool = False) -> None:
        """Flag deposits the provider has not confirmed: at once when it cannot (`all_reached`),
        else once they are older than the confirmation deadline."""
        deadline = self._request.timing.confirm_deadline_seconds
        for entry in self._unsettled():
            age = (workflow.now() - entry.first_seen_at).total_seconds()
            if entry.payment_id != self._request.payment_id or entry.held:
                continue  # flagged when it arrived
            if (all_reached and entry.reached) or age >= deadline:
                reason = unconfirmed_reason(entry, why, age_seconds=age)
                entry.flag = reason
                self._flag(_deposit_key(entry.key), reason)

    # ---- bookkeeping -------------------------------------------------------------------------

    @property
    def _status(self) -> AddressStatus:
        return AddressStatus(self._s.lifecycle.state)

    # ---- messages ----------------------------------------------------------------------------

    @async_update("Answer the starter with the address (and tag) once assigned")
    async def open(self, request: AddressRequest) -> AddressOpened:
        """Answer the starter with the address (and tag) once assigned."""
        await workflow.wait_condition(lambda: self._status != AddressStatus.REQUESTED)
        if self._s.address is None:
            raise ApplicationError(
                f"no address for {request.order_id}: {self._s.failure_reason}",
                type="AddressNotAssigned",
            )
        return AddressOpened(
            order_id=self._request.order_id,
            payment_id=self._request.payment_id,
            address=self._s.address,
            destination_tag=self._s.destination_tag,
            status=self._status,
        )

    @open.validator
    def _validate_open(self, request: AddressRequest) -> None:
        refuse_other_terms("an address", self._request, request)

    @workflow.signal(description="A verified deposit callback")
    def deposit(self, event: DepositEvent) -> None:
        """A verified deposit callback: recorded, then confirmed with the provider."""
        self._signals_this_run += 1
        late = self._status == AddressStatus.CLOSED
        outcome = self._s.ledger.record(
            event,
            at=workflow.now(),
            required_confirmations=self._s.required_confirmations,
            late=late,
        )
        if outcome == RecordOutcome.DUPLICATE:
            self._s.callbacks_repeated += 1
            return
        self._hinted = True
        key = self._s.ledger.entry_key(event)
        entry = self._s.ledger.entries[key]
        if event.payment_id != self._request.payment_id or entry.late:
            why = "after the address was closed" if entry.late else "in another currency"
            reason = f"deposit {event.amount} (paymentId {event.payment_id}) {why}"
            entry.flag = reason
            self._flag(_deposit_key(key), reason)
        self._hold_if_foreign(entry)

    def _hold_if_foreign(self, entry: LedgerEntry) -> None:
        """A deposit sent to another address is never credited from the provider's total: it
        waits for an operator (the gateway refuses such callbacks; this catches the rest)."""
        if entry.held or entry.final:
            return
        event = DepositEvent(
            txhash=entry.txhash,
            payment_id=entry.payment_id,
            amount=entry.amount,
            confirmations=entry.confirmations,
            address_to=entry.address_to,
        )
        why = foreign_address(self.assignment(), event)
        if why is None or not workflow.patched(FOREIGN_ADDRESS_PATCH):
            return
        entry.held = True
        entry.flag = f"deposit {entry.amount} (paymentId {entry.payment_id}): {why}"
        self._flag(_deposit_key(entry.key), entry.flag)

    @workflow.signal(description="An operator's reconciliation: check with the provider now")
    def check_now(self) -> None:
        """An operator's reconciliation: confirm unsettled deposits with the provider now."""
        self._hinted = True

    @async_update("An operator credits or rejects a deposit the provider did not confirm")
    async def resolve_deposit(self, resolution: DepositResolution) -> AddressState:
        """An operator credits or rejects a deposit the provider did not confirm; a decision
        without a valid proof from payflow's API is journalled as refused and never acted on."""
        if workflow.patched(PROOF_PATCH):
            refused = await refusal(resolution, last=self._s.last_decision_at)
            if refused is not None:
                note = f"{resolution.attempted()}: {refused}"
                self._s.lifecycle.offer("decision_refused", workflow.now(), note)
                raise ApplicationError(f"decision refused: {refused}", type=DECISION_REFUSED)
            entry = self._s.ledger.entries.get(resolution.key)
            if entry is None or entry.final:  # decided otherwise while it was checked
                raise ApplicationError(
                    f"deposit {resolution.key!r} has nothing left to resolve",
                    type=DECISION_REFUSED,
                )
            resolution = resolution.unproven()
            self._s.last_decision_at = resolution.decided_at
        ledger, now = self._s.ledger, workflow.now()
        note = f"operator {resolution.actor}: {resolution.note}"
        done = (
            ledger.credit(resolution.key, now, note)
            if resolution.credit
            else ledger.reject(resolution.key, now, note)
        )
        if done:
            self._unflag(_deposit_key(resolution.key))
            ledger.compact()
        self._hinted = True
        return self.state()

    @resolve_deposit.validator
    def _validate_resolve(self, resolution: DepositResolution) -> None:
        entry = self._s.ledger.entries.get(resolution.key)
        if entry is None:
            raise ValueError(f"no deposit {resolution.key!r} at this address")
        if entry.final:
            raise ValueError(f"deposit {resolution.key!r} is already {entry.lifecycle.state}")

    @async_update(
        "The merchant no longer expects deposits here (unsettled ones are still confirmed)"
    )
    async def close(self) -> AddressState:
        """The merchant no longer expects deposits here (unsettled ones are still confirmed)."""
        self._close_requested = True
        await workflow.wait_condition(lambda: self._status == AddressStatus.CLOSED)
        return self.state()

    @close.validator
    def _validate_close(self) -> None:
        if self._s.lifecycle.is_final:
            raise ValueError(f"the address is already {self._status.value}")

    @workflow.query(
        description="The address and tag deposits must be sent to (None until assigned)"
    )
    def assignment(self) -> AddressAssignment:
        """The address and tag deposits must be sent to (None until assigned)."""
        return AddressAssignment(
            payment_id=self._request.payment_id,
            address=self._s.address,
            destination_tag=self._s.destination_tag,
        )

    @workflow.query(
        description="The address and its ledger (settled deposits beyond the latest are archived)"
    )
    def state(self) -> AddressState:
        """The address and its ledger (settled deposits beyond the latest are archived)."""
        return self._s
