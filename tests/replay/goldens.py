"""Where the replay goldens live and what must never appear in them, shared by export and test."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from payflow.stack import SANDBOX_PASSIMPAY_KEY, SANDBOX_PAYMENTASSIST_SECRET

HISTORIES = Path(__file__).resolve().parent / "histories"
SECRETS = (SANDBOX_PASSIMPAY_KEY, SANDBOX_PAYMENTASSIST_SECRET)


def decoded(history_json: str) -> str:
    """The history with every payload decoded to text, so checks see what Temporal stores."""
    payloads = re.findall(r'"data": "([A-Za-z0-9+/=]+)"', history_json)
    return history_json + "".join(
        base64.b64decode(p).decode("utf-8", errors="replace") for p in payloads
    )
