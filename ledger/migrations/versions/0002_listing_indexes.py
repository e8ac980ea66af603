"""Indexes for listing payments by filter and exporting entries by time.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("payments_status", "payments", ["status", "id"])
    op.create_index("payments_created", "payments", ["created_at"])
    op.create_index("entries_at", "entries", ["at", "id"])


def downgrade() -> None:
    op.drop_index("entries_at", "entries")
    op.drop_index("payments_created", "payments")
    op.drop_index("payments_status", "payments")
