"""GHL OAuth: tokens and their state on connections, agency grants, install states, GHL app
webhooks. Event status `waiting` needs no column (statuses are text).

Every connection from before is a Private Integration token one (``ghl_auth`` 'pit').

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(
            sa.Column(
                "ghl_auth", sa.String(length=10), server_default=sa.text("'pit'"), nullable=False
            )
        )
        batch.add_column(sa.Column("ghl_refresh_token_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_refresh_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column(
                "token_generation", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch.add_column(sa.Column("scopes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("company_id", sa.String(length=100), nullable=True))
        batch.create_index("ix_connections_location_id", ["location_id"])
    op.create_table(
        "ghl_agencies",
        sa.Column("company_id", sa.String(length=100), nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=False),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("approved_locations", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_ghl_agencies")),
    )
    op.create_table(
        "oauth_states",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_oauth_states")),
    )
    op.create_table(
        "ghl_app_events",
        sa.Column("webhook_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("location_id", sa.String(length=100), nullable=True),
        sa.Column("company_id", sa.String(length=100), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("webhook_id", name=op.f("pk_ghl_app_events")),
    )
    op.create_index("ix_ghl_app_events_received_at", "ghl_app_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_ghl_app_events_received_at", table_name="ghl_app_events")
    op.drop_table("ghl_app_events")
    op.drop_table("oauth_states")
    op.drop_table("ghl_agencies")
    with op.batch_alter_table("connections") as batch:
        batch.drop_index("ix_connections_location_id")
        batch.drop_column("company_id")
        batch.drop_column("scopes")
        batch.drop_column("token_generation")
        batch.drop_column("last_refresh_at")
        batch.drop_column("token_expires_at")
        batch.drop_column("ghl_refresh_token_encrypted")
        batch.drop_column("ghl_auth")
