"""Where the ledger lives and how to reach it: SQLite under the state dir unless a URL is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

LEDGER_FILE = "ledger.db"
SQLITE_BUSY_MS = 10_000
"""How long a SQLite writer waits for another process's write (the worker and the gateway
share the file)."""
SQLITE_CONNECTIONS = 8
"""Kept open, none beyond: opening a SQLite connection (a thread, WAL and pragmas) costs more
than most reads, and writes take one at a time anyway (ledger.group_commit)."""
CONNECT_TIMEOUT_SECONDS = 5.0


class LedgerUnavailable(RuntimeError):
    """The ledger's database did not answer: nothing was written or decided; try again."""


def default_url(state_dir: str | Path) -> str:
    """The embedded ledger: a SQLite file in the state dir."""
    return f"sqlite+aiosqlite:///{Path(state_dir).resolve() / LEDGER_FILE}"


def ledger_url(database_url: str | None, state_dir: str | Path) -> str:
    """`PAYFLOW_DATABASE_URL`, else the embedded SQLite file."""
    return database_url or default_url(state_dir)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and its directory made."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options.setdefault("pool_size", SQLITE_CONNECTIONS)
        options.setdefault("max_overflow", 0)
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, **options
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        options.setdefault("pool_pre_ping", True)
        options.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT_SECONDS})
    return create_async_engine(url, **options)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
