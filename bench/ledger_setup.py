"""The ledger a bench runs payflow with, as deployed: embedded SQLite or a real PostgreSQL
server started from the system's binaries, brought to this code's schema by `payflow db
upgrade`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from harness import ROOT

DATABASES = ("sqlite", "postgresql")


def upgraded(url: str) -> str:
    """Run `payflow db upgrade` on `url`; returns it."""
    subprocess.run(
        [sys.executable, "-m", "payflow.cli", "db", "upgrade"],
        env={**os.environ, "PAYFLOW_DATABASE_URL": url},
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return url


def embedded_ledger() -> str:
    """A fresh SQLite ledger in a temporary directory, at this code's schema."""
    directory = Path(tempfile.mkdtemp(prefix="payflow-ledger-"))
    return upgraded(f"sqlite+aiosqlite:///{directory / 'ledger.db'}")


@contextlib.asynccontextmanager
async def ledger_database(kind: str) -> AsyncIterator[str]:
    """The URL of a fresh ledger of `kind` (`sqlite` or `postgresql`) for the block."""
    if kind == "sqlite":
        yield embedded_ledger()
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the tests' PostgreSQL helper
    from tests.postgres_server import create_database, running_postgres

    with running_postgres() as server:
        yield upgraded(await create_database(server, f"bench_{uuid.uuid4().hex[:8]}"))
