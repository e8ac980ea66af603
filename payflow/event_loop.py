"""The event loop payflow's long-running processes run on: uvloop where it is installed (every
platform but Windows), which spends far less CPU per request and per Temporal call."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


def run(main: Coroutine[Any, Any, Result]) -> Result:
    """`asyncio.run(main)` on uvloop when it is importable, on asyncio's own loop otherwise."""
    try:
        import uvloop
    except ImportError:  # Windows: uvloop does not build there
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
