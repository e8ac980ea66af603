"""The ledger's reads and writes: register an order once, record every version of its flow,
page through payments and export entries."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Row, and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.database import LedgerUnavailable, create_engine
from ledger.group_commit import GroupCommit
from ledger.schema import entries, held_callbacks, payments
from state.ledger_models import Kind, LedgerWrite, PaymentRecord, terms_digest
from state.ledger_money import movements

DEFAULT_TIMEOUT_SECONDS = 5.0
EXPORT_CHUNK = 500


@dataclass(frozen=True)
class Registration:
    """The order's row after registering it: `new` when this call created it."""

    record: PaymentRecord
    new: bool


@dataclass(frozen=True)
class PaymentFilter:
    """Which payments a listing shows (None: any)."""

    kind: str | None = None
    provider: str | None = None
    status: str | None = None
    needs_attention: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class PaymentPage:
    """One page, newest first; `has_more` when older ones follow the last."""

    items: list[PaymentRecord]
    has_more: bool


@dataclass(frozen=True)
class _Order:
    """One registration waiting for its batch."""

    kind: Kind
    provider: str
    order_id: str
    terms: dict[str, object]


def payment_key(kind: str, order_id: str) -> str:
    """The id a listing names a payment by, and `starting_after` takes back."""
    return f"{kind}:{order_id}"


@dataclass(frozen=True)
class HeldCallback:
    """A verified callback kept while Temporal could not take it."""

    id: int
    kind: str
    order_id: str
    event: dict[str, Any]


class Ledger:
    """One database of record shared by the gateway and the workers."""

    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.engine = engine
        self._timeout = timeout
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._new_payment = self._insert(payments).on_conflict_do_nothing(
            index_elements=["kind", "order_id"]
        )
        self._new_registrations = self._new_payment.returning(payments.c.kind, payments.c.order_id)
        self._new_entries = (
            self._insert(entries)
            .on_conflict_do_nothing(index_elements=["kind", "order_id", "entry_key"])
            .returning(entries.c.kind, entries.c.order_id)
        )
        self._registrations = GroupCommit(self._register_all, timeout=timeout)
        self._recordings = GroupCommit(self._record_all, timeout=timeout)

    @classmethod
    def connect(cls, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Ledger:
        """A ledger on `url` (no connection is made until the first call)."""
        return cls(create_engine(url), timeout=timeout)

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction under the deadline; LedgerUnavailable when the database does not
        answer (nothing was written)."""
        try:
            async with asyncio.timeout(self._timeout), self.engine.begin() as connection:
                yield connection
        except TimeoutError:
            raise LedgerUnavailable(f"no answer within {self._timeout:g} s") from None
        except (OperationalError, InterfaceError, OSError) as error:
            raise LedgerUnavailable(_reason(error)) from None
        except DBAPIError as error:
            if error.connection_invalidated:
                raise LedgerUnavailable(_reason(error)) from None
            raise

    async def register(
        self, kind: Kind, provider: str, order_id: str, terms: Mapping[str, object]
    ) -> Registration:
        """Register the order once (unique per kind and order), in one transaction; a repeat
        answers the row that exists, with the terms it was first registered on."""
        return await self._registrations(_Order(kind, provider, order_id, dict(terms)))

    async def _register_all(self, orders: Sequence[_Order]) -> list[Registration]:
        """Every order of a batch registered in one transaction; within a batch only an
        order's first registration is `new`."""
        now = datetime.now(UTC)
        keys = list(dict.fromkeys((order.kind, order.order_id) for order in orders))
        firsts = {(o.kind, o.order_id): o for o in reversed(orders)}
        async with self._transaction() as connection:
            inserted = await connection.execute(
                self._new_registrations,
                [
                    {
                        "kind": order.kind,
                        "order_id": order.order_id,
                        "provider": order.provider,
                        "terms": order.terms,
                        "terms_digest": terms_digest(order.terms),
                        "registered_at": now,
                        "needs_attention": False,
                        "closed": False,
                        "version": 0,
                    }
                    for order in (firsts[key] for key in keys)
                ],
            )
            created = {(row.kind, row.order_id) for row in inserted}
            rows = (
                await connection.execute(
                    select(payments).where(tuple_(payments.c.kind, payments.c.order_id).in_(keys))
                )
            ).all()
        found = {(row.kind, row.order_id): _record(row, with_view=True) for row in rows}
        registrations = []
        for order in orders:
            key = (order.kind, order.order_id)
            new = key in created and firsts[key] is order
            registrations.append(Registration(record=found[key], new=new))
        return registrations

    async def record(self, writes: Sequence[LedgerWrite]) -> int:
        """Write each version of a flow's record: the newest version wins the payment's row
        (the same version again rewrites it: a workflow task that failed to complete reruns
        with a newer state under the same version), each change and each amount that moved
        money is one entry. A retried write adds no entry twice. Returns the entries added.

        Concurrent calls share a transaction (GroupCommit)."""
        added = await asyncio.gather(*(self._recordings(write) for write in writes))
        return sum(added)

    async def _record_all(self, writes: Sequence[LedgerWrite]) -> list[int]:
        """A batch of writes in one transaction and three statements, whatever its size: the
        new payments' rows, every row's update, every entry (each run once per batch)."""
        now = datetime.now(UTC)
        firsts = [_first_row(write) for write in writes if write.changes[0].version == 1]
        rows = [row for write in writes for row in _entry_rows(write, now)]
        added: Counter[tuple[str, str]] = Counter()
        async with self._transaction() as connection:
            if firsts:  # later versions follow a committed first write
                await connection.execute(self._new_payment, firsts)
            await connection.execute(_UPDATE_PAYMENT, [_payment_update(write) for write in writes])
            if rows:
                for row in await connection.execute(self._new_entries, rows):
                    added[(row.kind, row.order_id)] += 1
        return [added.pop((write.kind, write.order_id), 0) for write in writes]

    async def hold_callback(self, kind: str, order_id: str, event: dict[str, Any]) -> int:
        """Keep a verified callback Temporal could not take now; its id."""
        row = {
            "kind": kind,
            "order_id": order_id,
            "event": event,
            "received_at": datetime.now(UTC),
            "attempts": 0,
        }
        async with self._transaction() as connection:
            found = await connection.execute(
                held_callbacks.insert().values(row).returning(held_callbacks.c.id)
            )
            return int(found.scalar_one())

    async def held_callbacks(self, limit: int = 100) -> list[HeldCallback]:
        """Callbacks still to be delivered, oldest first."""
        query = (
            select(held_callbacks)
            .where(held_callbacks.c.delivered_at.is_(None))
            .order_by(held_callbacks.c.id)
            .limit(limit)
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [HeldCallback(row.id, row.kind, row.order_id, row.event) for row in rows]

    async def callback_tried(self, held_id: int, outcome: str | None) -> None:
        """One delivery attempt of a held callback; `outcome` (where it went) settles it."""
        values: dict[str, Any] = {"attempts": held_callbacks.c.attempts + 1}
        if outcome is not None:
            values |= {"delivered_at": datetime.now(UTC), "outcome": outcome}
        async with self._transaction() as connection:
            await connection.execute(
                update(held_callbacks).where(held_callbacks.c.id == held_id).values(values)
            )

    async def payment(self, kind: str, order_id: str) -> PaymentRecord | None:
        """The order's row, or None when it was never registered or recorded."""
        async with self._transaction() as connection:
            row = (await connection.execute(_one(kind, order_id))).one_or_none()
        return None if row is None else _record(row, with_view=True)

    async def page(
        self,
        where: PaymentFilter | None = None,
        *,
        limit: int = 50,
        starting_after: str | None = None,
    ) -> PaymentPage:
        """Recorded payments newest first, `limit` at a time, after the payment named by
        `starting_after` (`kind:order_id`): a page never repeats or skips one that existed
        when the first page was read, however many are written meanwhile."""
        where = where or PaymentFilter()
        async with self._transaction() as connection:
            clauses = [payments.c.status.is_not(None), *_filters(where)]
            if starting_after is not None:
                clauses.append(payments.c.id < await _cursor_id(connection, starting_after))
            rows = (
                await connection.execute(
                    select(*_LISTED).where(*clauses).order_by(payments.c.id.desc()).limit(limit + 1)
                )
            ).all()
        return PaymentPage(
            items=[_record(row, with_view=False) for row in rows[:limit]],
            has_more=len(rows) > limit,
        )

    async def entries(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every entry with `start <= at < end`, oldest first, read in chunks."""
        after: tuple[datetime, int] | None = None
        while True:
            clauses = []
            if start is not None:
                clauses.append(entries.c.at >= start)
            if end is not None:
                clauses.append(entries.c.at < end)
            if after is not None:
                clauses.append(
                    or_(
                        entries.c.at > after[0],
                        and_(entries.c.at == after[0], entries.c.id > after[1]),
                    )
                )
            async with self._transaction() as connection:
                rows = (
                    await connection.execute(
                        select(entries)
                        .where(*clauses)
                        .order_by(entries.c.at, entries.c.id)
                        .limit(EXPORT_CHUNK)
                    )
                ).all()
            for row in rows:
                found = dict(row._mapping)
                found.pop("id")
                yield found
            if len(rows) < EXPORT_CHUNK:
                return
            after = (rows[-1].at, rows[-1].id)

    async def entries_of(self, kind: str, order_id: str) -> list[dict[str, Any]]:
        """One flow's entries in the order they were recorded."""
        async with self._transaction() as connection:
            rows = (
                await connection.execute(
                    select(entries)
                    .where(entries.c.kind == kind, entries.c.order_id == order_id)
                    .order_by(entries.c.version, entries.c.id)
                )
            ).all()
        return [dict(row._mapping) for row in rows]


_LISTED = [column for column in payments.c if column.name != "view"]
_UPDATE_PAYMENT = (
    update(payments)
    .where(
        payments.c.kind == bindparam("b_kind"),
        payments.c.order_id == bindparam("b_order_id"),
        payments.c.version <= bindparam("b_version"),
    )
    .values(
        status=bindparam("b_status"),
        needs_attention=bindparam("b_attention", type_=Boolean()),
        closed=or_(payments.c.closed, bindparam("b_closed", type_=Boolean())),
        version=bindparam("b_version"),
        view=bindparam("b_view", type_=payments.c.view.type),
        created_at=func.coalesce(
            payments.c.created_at, bindparam("b_first_at", type_=payments.c.created_at.type)
        ),
        updated_at=bindparam("b_at", type_=payments.c.updated_at.type),
    )
)
"""The newest version wins the payment's row (the same version again rewrites it)."""


def _first_row(write: LedgerWrite) -> dict[str, Any]:
    """The payment's row for a flow's first write, should no registration have made it."""
    return {
        "kind": write.kind,
        "order_id": write.order_id,
        "provider": write.provider,
        "terms": {},
        "terms_digest": "",
        "registered_at": write.changes[0].at,
        "needs_attention": False,
        "closed": False,
        "version": 0,
    }


def _payment_update(write: LedgerWrite) -> dict[str, Any]:
    last = write.last
    return {
        "b_kind": write.kind,
        "b_order_id": write.order_id,
        "b_version": last.version,
        "b_status": last.status,
        "b_attention": last.needs_attention,
        "b_closed": any(change.closed for change in write.changes),
        "b_view": write.view,
        "b_first_at": write.changes[0].at,
        "b_at": last.at,
    }


def _entry_rows(write: LedgerWrite, now: datetime) -> list[dict[str, Any]]:
    """One entry per change and one per amount that moved money."""
    last = write.last
    common = {"kind": write.kind, "order_id": write.order_id, "recorded_at": now}
    rows: list[dict[str, Any]] = [
        {
            **common,
            "entry_key": f"v{change.version}",
            "type": change.change,
            "version": change.version,
            "at": change.at,
            "status": change.status,
            "needs_attention": change.needs_attention,
            "amount": None,
            "currency": None,
            "direction": None,
            "reference": None,
        }
        for change in write.changes
        if change.change is not None
    ]
    for moved in movements(write.kind, write.view):
        rows.append(
            {
                **common,
                "entry_key": f"money:{moved.key}",
                "type": moved.type,
                "version": last.version,
                "at": last.at,
                "status": last.status,
                "needs_attention": last.needs_attention,
                "amount": moved.amount,
                "currency": moved.currency,
                "direction": moved.direction,
                "reference": moved.reference,
            }
        )
    return rows


def _one(kind: str, order_id: str) -> Any:
    return select(payments).where(payments.c.kind == kind, payments.c.order_id == order_id)


def _filters(where: PaymentFilter) -> Iterator[Any]:
    if where.kind is not None:
        yield payments.c.kind == where.kind
    if where.provider is not None:
        yield payments.c.provider == where.provider
    if where.status is not None:
        yield payments.c.status == where.status
    if where.needs_attention is not None:
        yield payments.c.needs_attention == where.needs_attention
    if where.created_from is not None:
        yield payments.c.created_at >= where.created_from
    if where.created_to is not None:
        yield payments.c.created_at < where.created_to


async def _cursor_id(connection: AsyncConnection, key: str) -> int:
    kind, _, order_id = key.partition(":")
    found = (
        await connection.execute(
            select(payments.c.id).where(payments.c.kind == kind, payments.c.order_id == order_id)
        )
    ).scalar_one_or_none()
    if found is None:
        raise KeyError(f"starting_after names no payment: {key!r}")
    return int(found)


def _record(row: Row[Any], *, with_view: bool) -> PaymentRecord:
    found = row._mapping
    return PaymentRecord(
        kind=found["kind"],
        provider=found["provider"],
        order_id=found["order_id"],
        terms=found["terms"] or {},
        status=found["status"],
        needs_attention=bool(found["needs_attention"]),
        closed=bool(found["closed"]),
        version=found["version"],
        registered_at=found["registered_at"],
        created_at=found["created_at"],
        updated_at=found["updated_at"],
        view=found["view"] if with_view else None,
    )


def _reason(error: BaseException) -> str:
    """The database's complaint in one line, without the statement or its parameters."""
    original = getattr(error, "orig", None) or error
    return f"{type(original).__name__}: {str(original).splitlines()[0] if str(original) else ''}"
