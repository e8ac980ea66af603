"""CPU seconds and resident memory of a process, read from /proc (Linux), for benchmark ratios."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Usage:
    """One reading: CPU seconds used so far and resident bytes now."""

    cpu: float
    rss: int

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu - other.cpu, self.rss - other.rss)


def usage(pid: int) -> Usage:
    """The process's CPU (user + system) and RSS; its waited-for children count too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return Usage(ticks / TICKS, pages * PAGE)


def own_usage() -> Usage:
    """This process (the benchmark, its gateway and its sandboxes)."""
    return usage(os.getpid())
