"""One Passimpay payout per order: validated, sent at the platform's turn, followed to paid or
failed; a send that may have arrived is looked up, never blindly repeated."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import INVALID_INPUT
    from activities.passimpay_withdrawals import (
        PassimpayWithdrawalActivities,
        WithdrawAttempt,
        WithdrawLookup,
        WithdrawOutcome,
    )
    from providers.passimpay.models import WithdrawCallback, WithdrawRequest, WithdrawStatus
    from state.decision import DECISION_REFUSED
    from state.notifications import Outbox
    from state.passimpay_withdrawal import (
        StatusRead,
        WithdrawalLifecycle,
        WithdrawalStatus,
        approve_event,
        operator_retry,
    )
    from state.passimpay_withdrawal_models import (
        WithdrawalRequest,
        WithdrawalResolution,
        WithdrawalState,
        WithdrawCallbackRecord,
        currency_label,
    )
    from state.terms import TERMS_CONFLICT
    from state.withdraw_gate import TURN_SIGNAL, Fate, Ticket, Turn
    from workflows.calls import (
        CALL_RETRY,
        ONE_TRY,
        STATUS_RETRY,
        UNTIL_DONE,
        async_update,
        call,
        failure_message,
        failure_type,
        history_is_long,
    )
    from workflows.ledger import LedgerRecorder
    from workflows.notifications import Notifier
    from workflows.proofs import PROOF_PATCH, refusal
    from workflows.visibility import Published
    from workflows.wakeup import Wakeup

PROVIDER = "passimpay"
WORKFLOW_ID_PREFIX = "passimpay-withdrawal:"
MAX_AMBIGUOUS_ROUNDS = 5
"""Sends that may have arrived before an operator must decide (with a unique-orderId platform)."""
SEND_TIMEOUT = timedelta(minutes=3)
"""The send activity: waiting for its grant (one lease expiry at most) plus the send itself."""
SEND_HEARTBEAT = timedelta(seconds=30)
"""Only to notice a dead worker; a busy one beats every 10 s from a background task."""
REENQUEUE_AFTER = 600.0
"""A ticket whose turn has not come this long is queued again (the gate ignores a repeat)."""
MAX_LOOKUP_BACKOFF = 30.0
MAX_NOT_SENT_BACKOFF = 60.0
TROUBLE_AFTER = timedelta(minutes=10)
"""Provider calls failing this long make the payout visible to operators (it keeps retrying)."""
CALLBACK_LIMIT = 50
CANONICAL_ADDRESS_PATCH = "withdrawal-address-in-canonical-spelling"
"""The provider's record is compared with the payout in the chain's one address spelling (tag
appended or apart, EVM hex in any case), not as text. Taken only where the two comparisons
disagree; retire it (`deprecate_patch`) once no payout run from before it is still open."""
FRESH_LOOKUP_PATCH = "withdrawal-operator-retry-looks-up-first"
"""An operator's retry reads `/v2/withdrawstatus` first and resends only when the provider does
not know the payout (runs from before resent at once). Retire it (`deprecate_patch`) once no
payout that was in outcome_unknown before this deploy is still open."""
SENDABLE = frozenset({WithdrawalStatus.VALIDATED, WithdrawalStatus.SENDING})


S = WithdrawalStatus


def withdrawal_workflow_id(order_id: str) -> str:
    """The workflow ID of an order's payout."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


@workflow.defn
class PassimpayWithdrawal(Published[WithdrawalState]):
    """Carries one payout from validation to paid or failed; never sends it twice."""

    publish_every_move = True

    @workflow.init
    def __init__(self, request: WithdrawalRequest, carried: WithdrawalState | None = None) -> None:
        self._s = carried or WithdrawalState(
            order_id=request.order_id,
            request=request,
            notifications=Outbox(url=request.notify_url),
        )
        self._request = self._s.request
        self._wakeup = Wakeup(self._request.timing)
        if self._s.woke_at is not None:
            self._wakeup.last_activity_at = self._s.woke_at
        self._turn: Turn | None = None
        self._notifier: Notifier = Notifier(
            self._s.notifications, provider=PROVIDER, flow="withdrawal"
        )
        self._recorder: LedgerRecorder = LedgerRecorder(
            self._s.recorded, kind="withdrawal", provider=PROVIDER, view=self.state
        )

    @workflow.run
    async def run(
        self, request: WithdrawalRequest, carried: WithdrawalState | None = None
    ) -> WithdrawalState:
        self._notifier.resume()
        self._recorder.resume(self._s.order_id)
        await self._flow(request, carried)
        await self._notifier.drained()
        await self._recorder.closed(self._s.order_id, self._s.status, self._s.needs_attention)
        return self.state()

    async def _flow(
        self, request: WithdrawalRequest, carried: WithdrawalState | None
    ) -> WithdrawalState:
        if carried is None:
            self._publish_identity(PROVIDER)
            await self._validate()
        else:
            self._wakeup.nudge()  # a new run asks the provider at once
        while not self._lifecycle.is_final:
            if self._status in SENDABLE:
                await self._deliver()
            elif self._status == S.PENDING:
                await self._follow()
            else:
                await self._await_operator()
        await self._keep_for_late_news()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    @property
    def _lifecycle(self) -> WithdrawalLifecycle:
        return self._s.lifecycle

    def _late_until(self) -> datetime:
        return workflow.now() + timedelta(seconds=self._request.late_callback_window_seconds)

    def _continue_as_new_if_long(self) -> None:
        """Start a fresh run carrying the state once the history is long (never mid-send)."""
        if not history_is_long():
            return
        self._s.runs += 1
        self._s.woke_at = self._wakeup.last_activity_at
        workflow.continue_as_new(args=[self._request, self._s])

    # ---- validation --------------------------------------------------------------------------

    async def _validate(self) -> bool:
        """Check currency, address, minimum and balance before anything can be sent."""
        try:
            facts = await call(
                PassimpayWithdrawalActivities.validate_withdrawal,
                self._request,
                retry_policy=UNTIL_DONE,
            )
        except ActivityError as error:
            self._s.reason = failure_message(error)
            self._move("reject", self._s.reason)
            return False
        self._s.currency = currency_label(facts.currency.ticker, facts.currency.network)
        self._s.policy = facts.policy
        self._move("validate", self._s.currency)
        return True

    # ---- sending -----------------------------------------------------------------------------

    async def _deliver(self) -> None:
        """Send at the platform's turn until the provider has the payout, refuses it, or nobody
        can tell; a send that may have arrived is looked up before anything else."""
        while self._status in SENDABLE:
            outcome = await self._send_once()
            if outcome is None:
                return
            if outcome.kind == "not_sent":
                self._s.not_sent += 1
                self._note("not_sent", outcome.reason or "nothing was written")
                await self._pause_after_not_sent()
                self._continue_as_new_if_long()  # nothing is outstanding between attempts
                continue
            self._s.not_sent_streak = 0
            self._clear_trouble()
            self._s.send_attempts += 1
            if outcome.kind == "sent":
                result = outcome.result
                self._s.transaction_id = result.transaction_id if result else None
                self._move("accept", f"transactionId {self._s.transaction_id}")
                return
            if outcome.kind == "refused" and not self._s.maybe_sent:
                self._s.reason = f"/v2/withdraw refused: {outcome.reason}"
                self._move("fail", self._s.reason)
                return
            self._s.ambiguous_rounds += 1
            self._s.maybe_sent.append(f"send {self._s.send_attempts}: {outcome.reason}")
            self._note("ambiguous", f"send {self._s.send_attempts}: {outcome.reason}")
            # a resend is only safe where the platform refuses a reused orderId, and only
            # while nothing suggests the first one arrived (a refusal of a resend does)
            may_resend = self._s.policy.unique_order_id and outcome.kind != "refused"
            found, answered = await self._look_up(stop_when_not_found=may_resend)
            if found is not None:
                self._found(found)
                return
            if may_resend and answered and self._s.ambiguous_rounds < MAX_AMBIGUOUS_ROUNDS:
                self._note("resend", "not found; the platform refuses a reused orderId")
                continue
            self._doubt(self._s.evidence())
            return

    async def _send_once(self) -> WithdrawOutcome | None:
        """Queue at the gate, wait for the turn, send; None when the payout was rejected."""
        self._s.attempt += 1
        ticket = Ticket(
            order_id=self._request.order_id,
            workflow_id=workflow.info().workflow_id,
            attempt=self._s.attempt,
        )
        turn = await self._wait_for_turn(ticket)
        self._move("dispatch", f"attempt {self._s.attempt}: lease {turn.lease_id}")
        try:
            return await workflow.execute_activity_method(
                PassimpayWithdrawalActivities.withdraw,
                WithdrawAttempt(
                    request=self._provider_request(), lease_id=turn.lease_id, epoch=turn.epoch
                ),
                start_to_close_timeout=SEND_TIMEOUT,
                heartbeat_timeout=SEND_HEARTBEAT,
                retry_policy=ONE_TRY,
            )
        except ActivityError as error:
            reason = failure_message(error)
            if failure_type(error) == INVALID_INPUT:
                if self._s.maybe_sent:
                    self._doubt(f"refused before sending ({reason}); {self._s.evidence()}")
                else:
                    self._s.reason = reason
                    self._move("reject", f"nothing sent: {reason}")
                return None
        fate = await call(
            PassimpayWithdrawalActivities.settle_withdraw_lease,
            turn.ref.message(),
            retry_policy=UNTIL_DONE,
        )
        if fate is Fate.NOT_SENT:
            return WithdrawOutcome(kind="not_sent", reason=f"send activity failed: {reason}")
        return WithdrawOutcome(kind="maybe_sent", reason=f"{reason} (lease {fate.value})")

    async def _wait_for_turn(self, ticket: Ticket) -> Turn:
        """Queue the ticket and wait for the gate's call; a lost ticket is queued again."""
        self._turn = None
        while True:
            await call(
                PassimpayWithdrawalActivities.enqueue_withdraw, ticket, retry_policy=UNTIL_DONE
            )
            try:
                await workflow.wait_condition(
                    lambda: self._turn is not None, timeout=REENQUEUE_AFTER
                )
            except TimeoutError:
                # a fresh run queues a new attempt; a turn for this one goes unarmed and the
                # gate takes it back, so nothing can be sent under it
                self._continue_as_new_if_long()
                continue
            assert self._turn is not None
            return self._turn

    async def _pause_after_not_sent(self) -> None:
        """Nothing left: try again at once, then back off while sends keep failing."""
        self._s.not_sent_streak += 1
        self._note_trouble(f"{self._s.not_sent_streak} sends in a row could not be written")
        if self._s.not_sent_streak > 2:
            await workflow.sleep(min(2.0 ** (self._s.not_sent_streak - 3), MAX_NOT_SENT_BACKOFF))

    async def _look_up(self, *, stop_when_not_found: bool) -> tuple[WithdrawStatus | None, bool]:
        """Ask `/v2/withdrawstatus` over the lookup window; (found, whether it ever answered)."""
        end = workflow.now() + timedelta(seconds=self._request.timing.lookup_window_seconds)
        backoff = 1.0
        answered = False
        while True:
            try:
                status = await self._check_status()
            except ActivityError as error:
                self._note("status_unavailable", failure_message(error))
            else:
                if status is not None:
                    return status, True
                answered = True
                if stop_when_not_found:
                    return None, True
            remaining = (end - workflow.now()).total_seconds()
            if remaining <= 0:
                return None, answered
            await workflow.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, MAX_LOOKUP_BACKOFF)

    # ---- following ---------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Poll `/v2/withdrawstatus` on a timer, and at once after a callback, until it ends."""
        while self._status == S.PENDING:
            self._continue_as_new_if_long()
            await self._wakeup.sleep()
            try:  # the poll repeats anyway: fail fast, so each failure is counted and shown
                status = await self._check_status(retry_policy=STATUS_RETRY)
            except ActivityError as error:
                workflow.logger.warning("withdraw status failed: %s", failure_message(error))
                continue
            if status is not None:
                self._apply(status)

    async def _await_operator(self) -> None:
        """Wait for an operator's decision; meanwhile the status API may still find the payout."""
        while self._status == S.OUTCOME_UNKNOWN:
            self._continue_as_new_if_long()
            await self._wakeup.sleep(self._unknown_poll_interval())
            if self._status != S.OUTCOME_UNKNOWN:
                return
            if self._s.retry_requested is not None:
                await self._decide_retry(self._s.retry_requested)
                continue
            self._s.unknown_polls += 1
            try:
                status = await self._check_status()
            except ActivityError:
                continue
            if status is not None:
                self._found(status)

    async def _decide_retry(self, resolution: WithdrawalResolution) -> None:
        """An operator's retry: read `/v2/withdrawstatus` now, in this decision, and resend only
        if the provider answers that it has no payout under our orderId."""
        note = f"operator {resolution.actor}: {resolution.note}"
        status: WithdrawStatus | None = None
        unreadable = ""
        try:
            status = await self._check_status(retry_policy=STATUS_RETRY)
        except ActivityError as error:
            read: StatusRead = "unreadable"
            unreadable = failure_message(error)
        else:
            read = "not_found" if status is None else "found"
        if self._s.retry_requested is resolution:
            self._s.retry_requested = None
        if self._status != S.OUTCOME_UNKNOWN or self._s.retry_requested is not None:
            return  # decided otherwise meanwhile, or asked again: the newest request decides
        verdict = operator_retry(read)
        if verdict == "resend":
            self._s.ambiguous_rounds = 0
            self._move("retry", f"{note}; /v2/withdrawstatus does not know the payout")
        elif verdict == "follow" and status is not None:
            self._note("retry_declined", f"{note}; the provider has the payout: nothing resent")
            mismatch = self._mismatch(status)
            if mismatch is None:
                self._found(status)
            else:
                self._s.doubt = f"the orderId holds a different payout: {mismatch}"
                self._publish(force=True)
        else:
            why = f"/v2/withdrawstatus could not be read ({unreadable})"
            self._note("retry_declined", f"{note}; {why}: nothing resent")
            self._s.doubt = f"an operator's retry was not sent: {why}; {self._s.evidence()}"
            self._publish(force=True)

    def _unknown_poll_interval(self) -> float:
        """From the idle interval, doubling every ten checks, up to the slow maximum."""
        timing = self._request.timing
        doubled = timing.idle_poll_seconds * 2.0 ** min(self._s.unknown_polls // 10, 20)
        return min(max(doubled, timing.idle_poll_seconds), timing.unknown_poll_max_seconds)

    async def _check_status(self, retry_policy: RetryPolicy = CALL_RETRY) -> WithdrawStatus | None:
        """The provider's truth (by transactionId when known); None while it does not know it."""
        lookup = WithdrawLookup(
            order_id=self._request.order_id, transaction_id=self._s.transaction_id
        )
        self._s.status_checks += 1
        self._s.last_checked_at = workflow.now()
        try:
            status = await call(
                PassimpayWithdrawalActivities.withdraw_lookup, lookup, retry_policy=retry_policy
            )
        except ActivityError:
            self._s.status_failures += 1
            self._note_trouble("/v2/withdrawstatus keeps failing")
            raise
        self._clear_trouble()
        if status is not None:
            self._record(status)
        return status

    def _record(self, status: WithdrawStatus) -> None:
        """Keep what the provider's status says (the truth, unlike callbacks)."""
        state = self._s
        state.provider_approve = status.approve
        state.transaction_id = status.transaction_id or state.transaction_id
        state.txhash, state.confirmations = status.txhash, status.confirmations
        state.amount_debited = status.amount_debited
        state.fee_network, state.fee_service = status.fee_network, status.fee_service

    def _mismatch(self, status: WithdrawStatus) -> str | None:
        """What differs between our payout and the provider's record (None: it is ours), the
        address compared in its chain's one spelling; runs from before the patch compare text."""
        request = self._request
        exact = request.differs_from(status.payment_id, status.address_to, status.amount)
        canonical = request.differs_from(
            status.payment_id,
            status.address_to,
            status.amount,
            chain=self._s.chain,
            destination_tag=status.destination_tag,
            canonical=True,
        )
        if (exact is None) == (canonical is None):
            return exact
        return canonical if workflow.patched(CANONICAL_ADDRESS_PATCH) else exact

    def _found(self, status: WithdrawStatus) -> None:
        """The provider has a payout under our orderId: follow it if it is ours."""
        mismatch = self._mismatch(status)
        if mismatch is not None:
            if self._status != S.OUTCOME_UNKNOWN:
                self._doubt(f"the orderId holds a different payout: {mismatch}")
            return
        self._move("accept", f"found by /v2/withdrawstatus (approve {status.approve})")
        self._apply(status)

    def _apply(self, status: WithdrawStatus) -> None:
        """Move on what `/v2/withdrawstatus` says: approve 1 paid, 2 failed, 0 still pending."""
        if self._status != S.PENDING:
            return
        mismatch = self._mismatch(status)
        event = approve_event(status.approve)
        if mismatch is not None:
            self._doubt(f"the orderId holds a different payout: {mismatch}")
        elif event == "settle":
            self._move(event, f"txhash {status.txhash}")
        elif event == "fail":
            self._s.reason = status.reason or status.message or "the provider reports it failed"
            self._move(event, self._s.reason)

    async def _keep_for_late_news(self) -> None:
        """Stay open a while so late callbacks land here; after an operator's paid or failed,
        keep asking the provider and flag it when the provider says otherwise."""
        if self._s.late_until is None:
            self._s.late_until = self._late_until()
        end = self._s.late_until
        self._wait_for(f"open until {end:%Y-%m-%d %H:%M} UTC for late callbacks")
        operator_decided = self._s.resolution is not None and self._s.resolution.decision != "retry"
        while (remaining := (end - workflow.now()).total_seconds()) > 0:
            self._continue_as_new_if_long()
            if not operator_decided:
                await self._wakeup.sleep(remaining)
                continue
            await self._wakeup.sleep(min(remaining, self._request.timing.idle_poll_seconds))
            try:
                status = await self._check_status()
            except ActivityError:
                continue
            self._cross_check(status)

    def _cross_check(self, status: WithdrawStatus | None) -> None:
        """Flag an operator's decision that the provider's status contradicts."""
        if status is None or self._s.contradiction is not None:
            return
        says = {0: "pending", 1: "paid", 2: "failed"}[status.approve]
        if (self._status == S.PAID and status.approve == 2) or (
            self._status == S.FAILED and status.approve in (0, 1)
        ):
            self._s.contradiction = (
                f"an operator marked the payout {self._status.value} but /v2/withdrawstatus "
                f"says {says}"
            )
            self._publish(force=True)

    # ---- bookkeeping -------------------------------------------------------------------------

    @property
    def _status(self) -> WithdrawalStatus:
        return WithdrawalStatus(self._s.status)

    def _provider_request(self) -> WithdrawRequest:
        request = self._request
        return WithdrawRequest(
            payment_id=request.payment_id,
            address_to=request.address_to,
            amount=request.amount,
            order_id=request.order_id,
        )

    def _note(self, event: str, note: str) -> None:
        """Journal something that is not a move (an ambiguous send, a turn given up)."""
        self._lifecycle.offer(event, workflow.now(), note)

    def _doubt(self, reason: str) -> None:
        self._s.doubt = reason
        self._move("doubt", reason)

    def _note_trouble(self, reason: str) -> None:
        """Provider calls are failing; after `TROUBLE_AFTER` of it an operator should know."""
        now = workflow.now()
        self._s.trouble_since = self._s.trouble_since or now
        if self._s.trouble is None and now - self._s.trouble_since >= TROUBLE_AFTER:
            self._s.trouble = f"{reason} since {self._s.trouble_since.isoformat()}"
            self._publish(force=True)

    def _clear_trouble(self) -> None:
        self._s.trouble_since = None
        if self._s.trouble is not None:
            self._s.trouble = None
            self._publish(force=True)

    # ---- messages ----------------------------------------------------------------------------

    @async_update("Answer the caller once the payout is validated or rejected")
    async def submit(self, request: WithdrawalRequest) -> WithdrawalState:
        """Answer the caller once the payout is validated or rejected; it then goes on its own."""
        await workflow.wait_condition(lambda: self._status != S.CREATED)
        return self.state()

    @submit.validator
    def _validate_submit(self, request: WithdrawalRequest) -> None:
        changed = self._request.differs_from(request.payment_id, request.address_to, request.amount)
        if changed:  # validators do not run on replay: refusing more changes no history
            raise ApplicationError(
                f"order {self._request.order_id} already has a withdrawal with other terms: "
                f"{changed}",
                type=TERMS_CONFLICT,
            )

    @async_update("An operator's decision on an unknown outcome (proven by payflow's API)")
    async def resolve(self, resolution: WithdrawalResolution) -> WithdrawalState:
        """An operator's decision on an unknown outcome: paid, failed, or send again; one
        without a valid proof from payflow's API is journalled as refused and never acted on."""
        if workflow.patched(PROOF_PATCH):
            refused = await refusal(resolution, last=self._s.last_decision_at)
            if refused is not None:
                self._note("decision_refused", f"{resolution.attempted()}: {refused}")
                raise ApplicationError(f"decision refused: {refused}", type=DECISION_REFUSED)
            if self._status != S.OUTCOME_UNKNOWN:  # decided otherwise while it was checked
                raise ApplicationError(
                    f"nothing to resolve: the withdrawal is {self._status.value}",
                    type=DECISION_REFUSED,
                )
            resolution = resolution.unproven()
            self._s.last_decision_at = resolution.decided_at
        self._s.resolution = resolution
        self._s.retry_requested = None
        note = f"operator {resolution.actor}: {resolution.note}"
        if resolution.decision == "paid":
            self._move("settle", note)
        elif resolution.decision == "failed":
            self._s.reason = note
            self._move("fail", note)
        elif workflow.patched(FRESH_LOOKUP_PATCH):
            self._s.retry_requested = resolution  # sent only if a fresh status read allows it
            self._note("retry_requested", f"{note}; /v2/withdrawstatus is asked first")
        else:
            self._s.ambiguous_rounds = 0
            self._move("retry", note)
        self._wakeup.nudge()
        return self.state()

    @resolve.validator
    def _validate_resolve(self, resolution: WithdrawalResolution) -> None:
        if self._status != S.OUTCOME_UNKNOWN:
            raise ValueError(f"nothing to resolve: the withdrawal is {self._status.value}")

    @workflow.signal(
        name=TURN_SIGNAL, description="The platform's gate calls this payout's current send attempt"
    )
    def withdraw_turn(self, turn: Turn) -> None:
        """The platform's gate calls this payout's current send attempt."""
        if turn.attempt == self._s.attempt:
            self._turn = turn

    @workflow.signal(description="A verified withdraw callback")
    def withdraw_callback(self, callback: WithdrawCallback) -> None:
        """A verified withdraw callback: a hint to ask the status API now, never the truth."""
        record = WithdrawCallbackRecord(
            received_at=workflow.now(),
            approve=callback.approve,
            transaction_id=callback.transaction_id,
            txhash=callback.txhash,
            late=self._lifecycle.is_final,
        )
        seen = (record.approve, record.transaction_id, record.txhash)
        if any((r.approve, r.transaction_id, r.txhash) == seen for r in self._s.callbacks):
            return
        self._s.callbacks.append(record)
        del self._s.callbacks[:-CALLBACK_LIMIT]
        agrees = {S.PAID: 1, S.FAILED: 2}.get(self._status)
        if record.late and agrees is not None and record.approve not in (0, agrees):
            self._s.contradiction = (
                f"a late callback says approve {record.approve} but the payout is {self._status}"
            )
            self._publish(force=True)
        self._wakeup.hint()

    @workflow.signal(description="An operator's reconciliation: check with the provider now")
    def check_now(self) -> None:
        """An operator's reconciliation: ask `/v2/withdrawstatus` at the next chance."""
        self._wakeup.nudge()

    @workflow.query(description="The whole payout as operators and the API see it")
    def state(self) -> WithdrawalState:
        """The whole payout as operators and the API see it: the workflow's one state."""
        return self._s
