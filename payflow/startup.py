"""Refuse to run a production process that would be open or talk to the sandboxes."""

from __future__ import annotations

import logging

from temporalio.converter import PayloadCodec

from gateway.access import AccessTokens
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
