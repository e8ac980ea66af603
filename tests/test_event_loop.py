"""payflow's processes run on uvloop where it is installed."""

from __future__ import annotations

import asyncio
import sys

import pytest

from payflow import event_loop


async def loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not build on Windows")
def test_long_running_processes_run_on_uvloop() -> None:
    assert event_loop.run(loop_type()).startswith("uvloop")
