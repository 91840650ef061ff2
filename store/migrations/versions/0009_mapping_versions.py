"""Mapping versions: every mapping saved for a connection, numbered, so the console can show
the history and roll back. Each connection's current mapping becomes its version 1.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mapping_versions",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=True),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_mapping_versions_connection_id_connections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "number", name="pk_mapping_versions"),
    )
    # The mappings stored before versions existed start the history, dated by their
    # connection's last change (the closest the store knows to when they were saved).
    op.execute(
        "INSERT INTO mapping_versions (connection_id, number, text, created_at, author) "
        "SELECT id, 1, mapping, updated_at, 'migration' FROM connections "
        "WHERE mapping IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("mapping_versions")
