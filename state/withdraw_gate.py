"""Turns for `/v2/withdraw`: the rules that keep a platform's requests at least 1.0 s apart.

The provider blocks a platform that sends two withdraw requests less than 1.0 s apart. Clocks
of different hosts cannot be compared safely, so the argument is causal instead:

- one request of a platform is in flight at a time: a sender holds the platform's *lease*;
- the next lease is granted only after the previous holder recorded its end (a reply came
  back, or nothing was written), or after the gate's own timer declared it expired;
- the next sender learns of its grant, and only then waits `wait_seconds` on its own monotonic
  clock before it writes.

A reply is produced after its request arrived, so the next request arrives more than
`WAIT_AFTER_REPLY` after the previous one. Without a reply (a hang, a reset, a dead holder) the
previous request's arrival time is unknown, so the next one waits `WAIT_AFTER_DOUBT`.
`docs/withdrawals.md` has the whole argument and its assumptions.

A lease is named by its number *and* the epoch of the gate run that issued it (`LeaseRef`):
a gate that is terminated and started again, or reset, counts from 1 again, and a settle or
release for an old lease must never be applied to a new lease with the same number. A lease
the gate does not know is refused (confirm), ignored (release) or answered "maybe sent"
(settle).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from state.decision import Proven

PROVIDER_MIN_INTERVAL = 1.0
"""The provider's limit: seconds between two withdraw requests of one platform."""
WAIT_AFTER_REPLY = PROVIDER_MIN_INTERVAL + 0.01
"""The next sender's wait after a request whose reply came back (it arrived before the reply)."""
IN_FLIGHT_BOUND = 5.0
"""Assumed: bytes written before a connection was closed reach the provider within this, or never."""
WAIT_AFTER_DOUBT = PROVIDER_MIN_INTERVAL + IN_FLIGHT_BOUND
"""The next sender's wait after a request that got no reply, or whose holder never reported."""
REFUSED_KEPT = 20
"""Refused messages a gate keeps (an outsider's flood cannot grow its state)."""
LEASE_LOCAL = 5.0
"""A holder may start writing only this long after it asked for (or renewed) its grant."""
REPLY_TIMEOUT = 10.0
"""After writing, a holder waits this long for the reply, then closes the connection."""
PAUSE_ALLOWANCE = 10.0
"""Assumed: a holder is never frozen longer than this between its last check and its write."""
LEASE_EXPIRY = LEASE_LOCAL + REPLY_TIMEOUT + PAUSE_ALLOWANCE
"""The gate treats an active lease whose holder went silent this long as ended without reply."""
ARM_GRACE = 5.0
"""A granted lease not armed this long after its wait ended is taken back (nothing was sent)."""
TURN_TIMEOUT = 30.0
"""A called sender that does not ask for its grant within this loses its turn (it sent nothing)."""
FATES_KEPT = 2000
"""Lease outcomes a gate remembers for senders that ask after a crash."""
RECENT_LIMIT = 50
"""Leases a gate shows operators."""

GATE_WORKFLOW = "PassimpayWithdrawGate"
"""The gate's workflow type; activities address it by name."""
ENQUEUE_UPDATE = "enqueue"
CONFIRM_UPDATE = "confirm"
SETTLE_UPDATE = "settle"
RELEASE_SIGNAL = "release"
TURN_SIGNAL = "withdraw_turn"
"""The signal a gate sends a payout workflow when its ticket is called."""


def gate_workflow_id(platform_id: int) -> str:
    """The one gate of a platform: every worker of every task queue asks here."""
    return f"passimpay-withdraw-gate:{platform_id}"


class Fate(StrEnum):
    """How a lease ended, as far as the provider's rate limit and the payout are concerned."""

    NOT_SENT = "not_sent"
    """Nothing was written: the payout was not sent and the provider saw no request."""
    REPLIED = "replied"
    """Written, and a reply came back: the request arrived before that reply."""
    NO_REPLY = "no_reply"
    """Written (or maybe written), no reply: when and whether it arrived is unknown."""
    EXPIRED = "expired"
    """The holder armed its lease and never reported: treated like `NO_REPLY`."""

    @property
    def maybe_sent(self) -> bool:
        """Whether the provider may have the payout."""
        return self is not Fate.NOT_SENT


class LeaseRef(BaseModel):
    """A lease as holders name it: its number and the epoch (gate run) that issued it."""

    lease_id: int
    epoch: str = Field(default="", description="empty for leases issued before epochs")

    @property
    def key(self) -> str:
        """The lease's identity as text (a lease from before epochs: its number alone)."""
        return f"{self.epoch}/{self.lease_id}" if self.epoch else str(self.lease_id)

    def message(self) -> LeaseRef | int:
        """How a holder names it to the gate: a lease from before epochs by its number alone,
        as the gates of that time expect."""
        return self if self.epoch else self.lease_id


LeaseName = LeaseRef | int
"""A lease in a message: a `LeaseRef`, or a bare number for a lease from before epochs."""


def lease_ref(name: LeaseName) -> LeaseRef:
    """The lease a message names; a bare number names a lease issued before epochs."""
    return name if isinstance(name, LeaseRef) else LeaseRef(lease_id=name)


class Ticket(BaseModel):
    """One send attempt of one payout, waiting for its turn."""

    order_id: str
    workflow_id: str
    attempt: int = Field(ge=1)

    @property
    def key(self) -> str:
        return f"{self.order_id}#{self.attempt}"


class Turn(BaseModel):
    """The gate's call to a payout workflow: this attempt may now ask for lease `lease_id`."""

    attempt: int
    lease_id: int
    epoch: str = ""

    @property
    def ref(self) -> LeaseRef:
        return LeaseRef(lease_id=self.lease_id, epoch=self.epoch)


class Lease(BaseModel):
    """A called ticket (waiting for its grant) or the active one (allowed to write)."""

    lease_id: int
    epoch: str = Field(default="", description="the gate run that issued it")
    ticket: Ticket
    called_at: datetime
    confirming: bool = False
    confirmed_at: datetime | None = None
    armed: bool = Field(
        default=False, description="the holder renewed its grant right before writing"
    )
    wait_seconds: float = WAIT_AFTER_DOUBT

    @property
    def ref(self) -> LeaseRef:
        return LeaseRef(lease_id=self.lease_id, epoch=self.epoch)

    def is_named(self, name: LeaseName) -> bool:
        """Whether a message names this lease: its number and its epoch."""
        return lease_ref(name).key == self.ref.key

    def expires_at(self) -> datetime:
        """When the gate ends this active lease on its own: an armed one may be writing, so
        only after `LEASE_EXPIRY`; an unarmed one as soon as its holder is clearly late."""
        assert self.confirmed_at is not None
        if self.armed:
            return self.confirmed_at + timedelta(seconds=LEASE_EXPIRY)
        return self.confirmed_at + timedelta(seconds=self.wait_seconds + ARM_GRACE)


class Grant(BaseModel):
    """The gate's answer to a holder: write after `wait_seconds`, give up, or ask again."""

    answer: Literal["granted", "refused", "retry"]
    wait_seconds: float = 0.0
    reason: str | None = None


class Release(Proven):
    """A holder's report that its lease ended, and how (proven by the payout activity that
    held it: a release typed into the Temporal UI or CLI is refused)."""

    lease_id: int
    fate: Fate
    epoch: str = ""

    @property
    def ref(self) -> LeaseRef:
        return LeaseRef(lease_id=self.lease_id, epoch=self.epoch)


class LeaseRecord(BaseModel):
    """One lease as operators see it."""

    lease_id: int
    epoch: str = ""
    order_id: str
    attempt: int
    fate: Fate | None = None


class GateState(BaseModel):
    """Everything a platform's gate knows; continue-as-new carries it whole."""

    platform_id: int
    epoch: str = Field(
        default="", description="what this run's leases are named by besides their number"
    )
    queue: list[Ticket] = Field(default_factory=list)
    called: Lease | None = None
    active: Lease | None = None
    next_lease_id: int = 1
    wait_next: float = Field(
        default=WAIT_AFTER_DOUBT, description="what the next holder must wait after its grant"
    )
    fates: dict[str, Fate] = Field(
        default_factory=dict, description="how leases ended, by `LeaseRef.key`, oldest first"
    )
    recent: list[LeaseRecord] = Field(default_factory=list)
    refused: list[str] = Field(
        default_factory=list,
        description=f"the latest {REFUSED_KEPT} messages refused for a missing or wrong proof",
    )
    leases_total: int = 0
    leases_per_run: int = Field(
        default=300, ge=1, description="continue-as-new after this many leases (~15 events each)"
    )

    def refuse(self, at: datetime, note: str) -> None:
        """Keep a refused message for operators (the latest few)."""
        self.refused.append(f"{at.isoformat()} {note}")
        del self.refused[:-REFUSED_KEPT]

    def enqueue(self, ticket: Ticket) -> bool:
        """Queue a ticket once; a repeat (retried activity) changes nothing."""
        holders = (self.called, self.active)
        if any(t.key == ticket.key for t in self.queue) or any(
            lease is not None and lease.ticket.key == ticket.key for lease in holders
        ):
            return False
        self.queue.append(ticket)
        return True

    def call_next(self, now: datetime) -> Lease | None:
        """Call the head of the queue when no ticket is called yet."""
        if self.called is not None or not self.queue:
            return None
        ticket = self.queue.pop(0)
        lease = Lease(lease_id=self.next_lease_id, epoch=self.epoch, ticket=ticket, called_at=now)
        self.next_lease_id += 1
        self.leases_total += 1
        self.called = lease
        self.recent.append(
            LeaseRecord(
                lease_id=lease.lease_id,
                epoch=lease.epoch,
                order_id=ticket.order_id,
                attempt=ticket.attempt,
            )
        )
        del self.recent[:-RECENT_LIMIT]
        return lease

    def renew(self, lease: LeaseName, now: datetime) -> Grant | None:
        """Arm the active lease: its holder is about to write (the expiry starts again).

        Until a lease is armed its holder cannot have written anything, so a silent holder's
        lease can be ended as not sent; None if the lease is not the active one.
        """
        if self.active is None or not self.active.is_named(lease):
            return None
        self.active.confirmed_at = now
        self.active.armed = True
        return Grant(answer="granted", wait_seconds=self.active.wait_seconds)

    def end_unarmed(self, lease: LeaseName) -> bool:
        """End the active lease as not sent if its holder never armed it (it cannot write now)."""
        active = self.active
        if active is None or not active.is_named(lease) or active.armed:
            return False
        self._end(active, Fate.NOT_SENT)
        self.active = None
        return True

    def can_promote(self, lease: LeaseName) -> bool:
        """Whether the called lease may become active now: nobody else holds the platform."""
        return self.active is None and self.is_called(lease)

    def is_called(self, lease: LeaseName) -> bool:
        return self.called is not None and self.called.is_named(lease)

    def promote(self, now: datetime) -> Grant:
        """The called lease becomes the active one; its expiry runs from `now`."""
        assert self.called is not None and self.active is None
        lease = self.called
        lease.confirming = False
        lease.armed = False
        lease.confirmed_at = now
        lease.wait_seconds = self.wait_next
        self.active, self.called = lease, None
        return Grant(answer="granted", wait_seconds=lease.wait_seconds)

    def release(self, release: Release) -> bool:
        """The holder's report; True when it ended the active lease (or a called one unused)."""
        if self.active is not None and self.active.is_named(release.ref):
            self._end(self.active, release.fate)
            if release.fate is not Fate.NOT_SENT:
                replied = release.fate is Fate.REPLIED
                self.wait_next = WAIT_AFTER_REPLY if replied else WAIT_AFTER_DOUBT
            self.active = None
            return True
        if self.is_called(release.ref) and release.fate is Fate.NOT_SENT:
            return self.revoke(release.ref)
        return False  # ended already, or a lease this gate never issued: ignored

    def revoke(self, lease: LeaseName) -> bool:
        """Take back a called lease that was never granted: it can no longer send anything."""
        if not self.is_called(lease):
            return False
        assert self.called is not None
        self._end(self.called, Fate.NOT_SENT)
        self.called = None
        return True

    def fate(self, lease: LeaseName) -> Fate:
        """How a lease ended; one too old to remember, or that this gate never issued (another
        gate run's), may have sent: the safe answer."""
        return self.fates.get(lease_ref(lease).key, Fate.NO_REPLY)

    def is_open(self, lease: LeaseName) -> bool:
        """Whether the lease is still called or active."""
        return any(held is not None and held.is_named(lease) for held in (self.called, self.active))

    def next_deadline(self) -> datetime | None:
        """When the gate must next act on its own: an active lease's expiry or a turn's end."""
        deadlines: list[datetime] = []
        if self.active is not None:
            deadlines.append(self.active.expires_at())
        if self.called is not None and not self.called.confirming:
            deadlines.append(self.called.called_at + timedelta(seconds=TURN_TIMEOUT))
        return min(deadlines) if deadlines else None

    def expire(self, now: datetime) -> list[str]:
        """End an active lease whose holder went silent and a turn nobody took; what was done."""
        done: list[str] = []
        active = self.active
        if active is not None and now >= active.expires_at():
            self._end(active, Fate.EXPIRED if active.armed else Fate.NOT_SENT)
            if active.armed:
                self.wait_next = WAIT_AFTER_DOUBT
            self.active = None
            done.append(f"lease {active.lease_id} ({active.ticket.key}) expired")
        called = self.called
        if (
            called is not None
            and not called.confirming
            and now >= called.called_at + timedelta(seconds=TURN_TIMEOUT)
        ):
            self.revoke(called.ref)
            done.append(f"turn {called.lease_id} ({called.ticket.key}) not taken")
        return done

    def _end(self, lease: Lease, fate: Fate) -> None:
        self.fates[lease.ref.key] = fate
        while len(self.fates) > FATES_KEPT:
            del self.fates[next(iter(self.fates))]
        for record in self.recent:
            if record.lease_id == lease.lease_id and record.epoch == lease.epoch:
                record.fate = fate
