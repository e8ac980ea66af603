"""Tolerant readers for `/status` fields whose format the provider's documentation leaves open."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

# `Y-m-d H:i:s T` as the webhook's `event_time` writes it, e.g. `2020-09-10 14:31:05 UTC`.
_PHP_DATETIME = re.compile(
    r"(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(?P<zone>[A-Za-z]{1,5})?"
)
_UTC_NAMES = frozenset({"UTC", "GMT", "Z"})
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off", ""})


def _aware(value: dt.datetime) -> dt.datetime:
    """Naive times are taken as UTC, the provider's own zone in every example."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def lenient_datetime(value: Any) -> dt.datetime | None:
    """ISO 8601, `Y-m-d H:i:s T`, a Unix timestamp, or nothing: never fails (None if unreadable)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return _aware(value)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    text = str(value).strip()
    if not text:
        return None
    try:
        return _aware(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    found = _PHP_DATETIME.fullmatch(text)
    if found is None or (found["zone"] and found["zone"].upper() not in _UTC_NAMES):
        return None
    return _aware(dt.datetime.fromisoformat(found["stamp"].replace(" ", "T")))


def lenient_text(value: Any) -> str | None:
    """A reference sent as a string or a number; empty or missing is None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def lenient_pence(value: Any) -> int | None:
    """Whole pence as an int or a numeric string (`"49900"`, `49900.0`); None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def lenient_bool(value: Any) -> bool | None:
    """A flag as a boolean, 0/1 or a word; None when it cannot be read."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return None if value not in (0, 1) else bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def status_word(value: Any) -> Any:
    """`in_progress`, `In Progress` and `in progress` are one status; others pass unchanged."""
    if not isinstance(value, str):
        return value
    word = value.strip().lower().replace("_", " ").replace("-", " ")
    return "pending_capture" if word == "pending capture" else word
