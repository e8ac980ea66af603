"""Provider callbacks held while Temporal could not take them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from ledger.schema import AUTO_ID, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_callbacks",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("delivered_at", UtcDateTime),
        sa.Column("outcome", sa.String(40)),
    )
    op.create_index("held_callbacks_due", "held_callbacks", ["delivered_at", "id"])


def downgrade() -> None:
    op.drop_index("held_callbacks_due", "held_callbacks")
    op.drop_table("held_callbacks")
