"""Bring the ledger's schema to the code's revision, and tell when it is behind."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per migration is noise
UPGRADE_COMMAND = "payflow db upgrade"


class SchemaBehind(RuntimeError):
    """The database's schema is older than this code's: nothing may run on it."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The revision this code's schema is at."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision (None: an empty database)."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str:
    """Apply every migration up to `revision` in one transaction; returns the revision reached."""

    def run(connection: Connection) -> None:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
    reached = await current_revision(engine)
    assert reached is not None
    return reached


async def schema_problem(engine: AsyncEngine) -> str | None:
    """Why this code may not run on the database's schema, in one line (None: it may)."""
    current, head = await current_revision(engine), head_revision()
    if current == head:
        return None
    if current is None:
        return f"the ledger database has no schema: run `{UPGRADE_COMMAND}`"
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        return (
            f"the ledger database is at revision {current}, which this code does not know "
            f"(its head is {head}): run a newer payflow"
        )
    return f"the ledger database is at revision {current}, behind {head}: run `{UPGRADE_COMMAND}`"


async def require_current(engine: AsyncEngine) -> None:
    """SchemaBehind unless the schema is this code's."""
    problem = await schema_problem(engine)
    if problem is not None:
        raise SchemaBehind(problem)
