"""crm_writes: what a connector without idempotency on the CRM's side has sent, by write.

A connector that cannot ask the CRM whether a write already landed (email has no such
question) records each write here before sending and marks it sent after the CRM took it;
the export of IXACT Contact Groups reads the contacts and tags from it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_writes",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("writeback_type", sa.String(length=100), nullable=False),
        sa.Column("contact", sa.String(length=512), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_crm_writes_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "idempotency_key", name=op.f("pk_crm_writes")),
    )
    op.create_index(
        "ix_crm_writes_connection_id_contact", "crm_writes", ["connection_id", "contact"]
    )


def downgrade() -> None:
    op.drop_index("ix_crm_writes_connection_id_contact", table_name="crm_writes")
    op.drop_table("crm_writes")
