"""Hand the callbacks kept while Temporal could not take them to their flows, oldest first,
once it can; one that no flow takes goes to the operators' inbox, as it would have."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import UTC, datetime

from gateway.services import GatewayServices
from ledger.database import LedgerUnavailable
from payflow.crypto import DepositRefused
from payflow.workflow_calls import PaymentNotFound, PaymentUnavailable
from state.deposit_ledger import DepositEvent
from state.passimpay_models import UnmatchedCallback

REDELIVERY_SECONDS = 1.0
"""How often the gateway looks for held callbacks (a quiet ledger costs one indexed read)."""
log = logging.getLogger("payflow.gateway.held")


async def deliver_held(found: GatewayServices) -> int:
    """One pass: deliver what Temporal takes now; how many were settled."""
    settled = 0
    for held in await found.ledger.held_callbacks():
        event = DepositEvent.model_validate(held.event)
        try:
            outcome: str = await found.crypto.deliver_deposit(held.order_id, event)
        except PaymentUnavailable:
            await found.ledger.callback_tried(held.id, None)
            break  # still down: the rest waits for the next pass, in order
        except (PaymentNotFound, DepositRefused) as error:
            reason = getattr(error, "reason", None) or "no open invoice or address"
            raw = json.dumps(held.event, sort_keys=True)
            await found.crypto.record_unmatched(
                UnmatchedCallback(
                    key=hashlib.sha256(raw.encode()).hexdigest(),
                    received_at=datetime.now(UTC),
                    order_id=held.order_id,
                    kind="deposit",
                    reason=f"held while Temporal could not answer, then: {reason}"[:2000],
                    deposit=event,
                    raw=raw[:16_384],
                )
            )
            outcome = "unmatched"
        await found.ledger.callback_tried(held.id, outcome)
        settled += 1
    return settled


async def redeliver_forever(found: GatewayServices, seconds: float = REDELIVERY_SECONDS) -> None:
    """The gateway's background loop (every replica runs one: a deposit delivered twice is one)."""
    while True:
        try:
            if await deliver_held(found):
                log.info("held callbacks delivered")
        except (LedgerUnavailable, PaymentUnavailable) as error:
            log.warning("held callbacks wait: %s", error)
        await asyncio.sleep(seconds)
