"""Every ledger test runs on SQLite and on a real PostgreSQL server started for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from ledger.migrate import upgrade
from ledger.store import Ledger
from tests.postgres_server import MISSING, PostgresServer, create_database, running_postgres

DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    try:
        with running_postgres() as server:
            yield server
    except FileNotFoundError:
        if os.environ.get("PAYFLOW_REQUIRE_POSTGRES"):  # CI: they must run
            raise
        yield None


@pytest_asyncio.fixture(params=DATABASES, loop_scope="session")
async def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer | None
) -> str:
    """The URL of a database with no schema yet."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    if postgres is None:
        pytest.skip(MISSING)
    return await create_database(postgres, f"ledger_{uuid.uuid4().hex[:12]}")


@pytest_asyncio.fixture(loop_scope="session")
async def ledger(empty_database: str) -> AsyncIterator[Ledger]:
    """A ledger on a database upgraded to this code's schema."""
    found = Ledger.connect(empty_database)
    await upgrade(found.engine)
    try:
        yield found
    finally:
        await found.close()
