"""The ledger's tables: one row per payment, and an append-only journal of its changes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

metadata = MetaData()

AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite autoincrements only an INTEGER primary key."""


class ExactDecimal(TypeDecorator[Decimal]):
    """Money, exactly: NUMERIC on PostgreSQL, the decimal's text on SQLite (which would keep a
    NUMERIC as a float). Up to 30 digits before the point and 18 after (wei)."""

    impl = String(60)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(48, 18, asdecimal=True))
        return dialect.type_descriptor(String(60))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"money must be a finite Decimal, not {value!r}")
        return value if dialect.name == "postgresql" else format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ledger timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


payments = Table(
    "payments",
    metadata,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("provider", String(20), nullable=False),
    Column("terms", JSON, nullable=False),
    Column("terms_digest", String(64), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("status", String(40)),
    Column("needs_attention", Boolean, nullable=False, default=False),
    Column("closed", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=0),
    Column("view", JSON),
    Column("created_at", UtcDateTime),
    Column("updated_at", UtcDateTime),
    UniqueConstraint("kind", "order_id", name="payments_kind_order"),
)
"""The order registry and each payment's current state. A row is registered before its
workflow starts (kind, order, terms); `status`, `view` and `version` come from the flow's own
writes, newest version wins, and `closed` once its workflow has ended."""

entries = Table(
    "entries",
    metadata,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("entry_key", String(300), nullable=False),
    Column("type", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("status", String(40), nullable=False),
    Column("needs_attention", Boolean, nullable=False),
    Column("amount", ExactDecimal),
    Column("currency", String(40)),
    Column("direction", String(3)),
    Column("reference", String(300)),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "order_id", "entry_key", name="entries_kind_order_key"),
)
"""Append-only: one row per change of status or attention, and one per amount that moved
money (credited, captured, paid out) with its currency, direction and provider reference.
The unique key makes a retried write a no-op."""

Index("payments_status", payments.c.status, payments.c.id)
Index("payments_created", payments.c.created_at)
Index("entries_at", entries.c.at, entries.c.id)

held_callbacks = Table(
    "held_callbacks",
    metadata,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("event", JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("delivered_at", UtcDateTime),
    Column("outcome", String(40)),
)
"""Verified provider callbacks the gateway could not hand to Temporal: kept here and answered
200, so a Temporal outage longer than the provider's retries loses none; delivered (or kept for
an operator) by the gateway's redelivery loop, `outcome` saying where it went."""

Index("held_callbacks_due", held_callbacks.c.delivered_at, held_callbacks.c.id)
