"""Refuse to run a production process that would be open or talk to the sandboxes."""

from __future__ import annotations

import logging

from temporalio.converter import PayloadCodec

from gateway.access import AccessTokens
from ledger.database import redacted
from ledger.migrate import schema_problem
from ledger.store import Ledger
from payflow.settings import PassimpaySettings, PayflowSettings, PaymentAssistSettings
from payflow.stack import SANDBOX_PASSIMPAY_KEY, SANDBOX_PAYMENTASSIST_SECRET


class UnsafeStart(SystemExit):
    """A production process was asked to start open or with sandbox credentials."""


def provider_problems(
    paymentassist: PaymentAssistSettings, passimpay: PassimpaySettings
) -> list[str]:
    """Why the providers' settings are the sandbox's rather than real credentials."""
    found: list[str] = []
    if paymentassist.api_secret.get_secret_value() == SANDBOX_PAYMENTASSIST_SECRET:
        found.append("PAYMENTASSIST_API_SECRET is the sandbox's: set the dealer's real secret")
    if passimpay.api_key.get_secret_value() == SANDBOX_PASSIMPAY_KEY:
        found.append("PASSIMPAY_API_KEY is the sandbox's: set the platform's real key")
    return found


def codec_problems(codec: PayloadCodec | None) -> list[str]:
    """Why personal data would reach Temporal in clear."""
    if codec is not None:
        return []
    return ["PAYFLOW_PAYLOAD_KEYS is not set: customers' data would be stored in clear"]


def api_problems(settings: PayflowSettings) -> list[str]:
    """Why the merchant API would not be closed."""
    return AccessTokens.from_settings(
        settings.api_token, settings.operator_token, settings.operator_tokens
    ).problems()


async def ledger_problem(settings: PayflowSettings) -> str | None:
    """Why the ledger cannot be used: unreachable, or its schema is not this code's."""
    ledger = Ledger.connect(settings.ledger_url(), timeout=settings.database_timeout_seconds)
    try:
        return await schema_problem(ledger.engine)
    except Exception as error:  # any driver's refusal: one line, never the password
        return f"the ledger database {redacted(settings.ledger_url())} is unreachable: {error}"
    finally:
        await ledger.close()


async def check_ledger(settings: PayflowSettings) -> None:
    """Stop here, with one line, unless the ledger is reachable at this code's schema (no
    setting lets a process write to a schema it does not know)."""
    problem = await ledger_problem(settings)
    if problem is not None:
        raise UnsafeStart(f"refusing to start: {problem}")


def check_start(problems: list[str], settings: PayflowSettings, logger: logging.Logger) -> None:
    """Stop here unless nothing is wrong; with PAYFLOW_INSECURE=true, warn and go on."""
    if not problems:
        return
    if settings.insecure:
        for problem in problems:
            logger.warning("PAYFLOW_INSECURE=true, starting anyway: %s", problem)
        return
    raise UnsafeStart(
        "refusing to start:\n  - "
        + "\n  - ".join(problems)
        + "\n(set them, or PAYFLOW_INSECURE=true to run against the sandboxes or with an open "
        "API; `payflow dev` does that for you)"
    )
