"""The order registry with each payment's current state, and the append-only entries.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledger.schema import AUTO_ID, ExactDecimal, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("terms", sa.JSON, nullable=False),
        sa.Column("terms_digest", sa.String(64), nullable=False),
        sa.Column("registered_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(40)),
        sa.Column("needs_attention", sa.Boolean, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("view", sa.JSON),
        sa.Column("created_at", UtcDateTime),
        sa.Column("updated_at", UtcDateTime),
        sa.UniqueConstraint("kind", "order_id", name="payments_kind_order"),
    )
    op.create_table(
        "entries",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("entry_key", sa.String(300), nullable=False),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("needs_attention", sa.Boolean, nullable=False),
        sa.Column("amount", ExactDecimal),
        sa.Column("currency", sa.String(40)),
        sa.Column("direction", sa.String(3)),
        sa.Column("reference", sa.String(300)),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("kind", "order_id", "entry_key", name="entries_kind_order_key"),
    )


def downgrade() -> None:
    op.drop_table("entries")
    op.drop_table("payments")
