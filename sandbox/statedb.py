"""The simulators' state across restarts: one SQLite file of small JSON rows per entity.

Each change is its own commit (WAL, synchronous=NORMAL: a commit costs tens of microseconds and
survives a process crash). Without a file (`StateDB.memory()`) every write is a no-op, so a
simulator with no state dir stays purely in memory at no cost.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, key)
)
"""
_UPSERT = (
    "INSERT INTO rows (kind, key, data) VALUES (?, ?, ?) "
    "ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data"
)


class StateDB:
    """One connection to one file; rows keep their first insertion order (an upsert keeps it)."""

    def __init__(self, connection: sqlite3.Connection | None) -> None:
        self._connection = connection
        self._depth = 0

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> StateDB:
        """Open (or create, 0600 in a 0700 directory) the file at `path`."""
        file = Path(path)
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not file.exists():
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o600))
        connection = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_SCHEMA)
        return cls(connection)

    @classmethod
    def memory(cls) -> StateDB:
        """Keep nothing: every write is dropped, every load is empty."""
        return cls(None)

    @property
    def persistent(self) -> bool:
        return self._connection is not None

    def put(self, kind: str, key: str, data: str) -> None:
        if self._connection is not None:
            self._connection.execute(_UPSERT, (kind, key, data))

    def delete(self, kind: str, key: str) -> None:
        if self._connection is not None:
            self._connection.execute("DELETE FROM rows WHERE kind = ? AND key = ?", (kind, key))

    def load(self, kind: str) -> list[tuple[str, str]]:
        """(key, data) of every row of `kind`, oldest first."""
        if self._connection is None:
            return []
        query = "SELECT key, data FROM rows WHERE kind = ? ORDER BY rowid"
        return list(self._connection.execute(query, (kind,)))

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Commit every write in the block together (a state change and the callback it owes)."""
        if self._connection is None or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._connection.execute("BEGIN")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        else:
            self._connection.execute("COMMIT")
        finally:
            self._depth = 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Table(Generic[T]):
    """Rows of one kind, each a `T` (dataclass or model) as pydantic writes it to JSON."""

    def __init__(self, db: StateDB, kind: str, row_type: type[T]) -> None:
        self._db = db
        self._kind = kind
        self._adapter: TypeAdapter[T] = _adapter(row_type)

    def put(self, key: str, value: T) -> None:
        if self._db.persistent:
            self._db.put(self._kind, key, self._adapter.dump_json(value).decode())

    def delete(self, key: str) -> None:
        self._db.delete(self._kind, key)

    def load(self) -> list[tuple[str, T]]:
        """Every row as (key, value), oldest first."""
        return [(key, self._adapter.validate_json(data)) for key, data in self._db.load(self._kind)]


_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def _adapter(row_type: type[T]) -> TypeAdapter[T]:
    """One adapter per row type (building one costs milliseconds; simulators are many in tests)."""
    if row_type not in _ADAPTERS:
        _ADAPTERS[row_type] = TypeAdapter(row_type)
    return _ADAPTERS[row_type]
