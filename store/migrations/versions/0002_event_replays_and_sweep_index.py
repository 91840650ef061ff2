"""Events: a replay counter, and an index for the recovery sweep.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: on SQLite it adds the column in place when it can and copies the table when
    # it cannot; on PostgreSQL it issues plain ALTER TABLE statements.
    with op.batch_alter_table("events") as batch:
        # The server default gives every existing event replays = 0, so NOT NULL holds at once.
        batch.add_column(
            sa.Column("replays", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.create_index("ix_events_status_updated_at", ["status", "updated_at"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_status_updated_at")
        batch.drop_column("replays")
