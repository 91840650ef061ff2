"""Connections: connector settings (encrypted), inbound authentication mode and token, mapping.

Rows from before keep ``crm_settings_encrypted`` NULL: a webhook connection's one setting, its
signing secret, is then read from ``crm_secret_encrypted`` (the migration cannot decrypt).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("crm_settings_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "inbound_auth",
                sa.String(length=20),
                server_default=sa.text("'signature'"),
                nullable=False,
            )
        )
        batch.add_column(sa.Column("inbound_token_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("mapping", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("mapping")
        batch.drop_column("inbound_token_encrypted")
        batch.drop_column("inbound_auth")
        batch.drop_column("crm_settings_encrypted")
