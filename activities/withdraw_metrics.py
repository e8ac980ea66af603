"""What the withdraw limit looks like from the senders: the gaps they kept and the turns lost."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WITHDRAW_GAP_SECONDS = Histogram(
    "payflow_withdraw_gap_seconds",
    "Seconds from learning that the previous /v2/withdraw ended (its grant) to writing the "
    "next one, on the sender's own monotonic clock: never under the gate's wait (1.01 s after "
    "a reply, 6 s after a doubt).",
    buckets=(1.0, 1.01, 1.02, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 6.0, 6.5, 8.0, 12.0),
)
WITHDRAW_MISSED_SLOTS = Counter(
    "payflow_withdraw_missed_slots",
    "Turns at the withdraw gate that wrote nothing: no_grant (the gate refused the turn), "
    "lease_lost (the lease was gone when armed), not_sent (connect failed or the grant ran "
    "out before the write).",
    ["reason"],
)
MISSED_SLOT_REASONS = ("no_grant", "lease_lost", "not_sent")
for _reason in MISSED_SLOT_REASONS:  # every series exists from the start, at 0
    WITHDRAW_MISSED_SLOTS.labels(_reason)
