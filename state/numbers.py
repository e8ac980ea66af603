"""Numbers in requests: a JSON `true` or `false` is no number.

Pydantic's lax mode reads a boolean where an int or float is expected as 1 or 0, so a merchant's
`"expiry_seconds": true` would become one second. These types refuse it and accept everything
else the plain type does (numbers, numeric strings)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a number is expected, not true or false")
    return value


NOT_A_BOOLEAN = BeforeValidator(_not_a_boolean)
Count = Annotated[int, NOT_A_BOOLEAN]
"""An int field of a request: ids, counts, seconds given as whole numbers."""
Seconds = Annotated[float, NOT_A_BOOLEAN]
"""A duration or interval of a request, in seconds."""
