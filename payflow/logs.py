"""One log format for every payflow process; provider secrets never reach it."""

from __future__ import annotations

import logging
import os

SANDBOX_DEFAULTS = {
    "PAYMENTASSIST_API_URL": "Payment Assist",
    "PASSIMPAY_API_URL": "Passimpay",
}


def configure_logging() -> None:
    """INFO to stderr (PAYFLOW_LOG_LEVEL overrides), once per process; a line per provider
    HTTP request only at DEBUG (at INFO it costs a busy worker more than the request)."""
    level = os.environ.get("PAYFLOW_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def warn_about_sandbox_defaults(logger: logging.Logger) -> None:
    """A production process without provider settings talks to the sandbox: say so loudly."""
    for variable, provider in SANDBOX_DEFAULTS.items():
        if variable not in os.environ:
            logger.warning("%s is not set: %s calls go to the local sandbox", variable, provider)
