"""Analytics: `stat_days` (one figure per connection, platform, metric and day, from the
snapshots) and `post_tag_links` (the tags each post carries, one row each), both filled from
what is stored already.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

# The same pure functions that save_snapshot and save_post_tags use, so that rows made here
# and rows made later agree.
from store.stat_days import StatPoint, snapshot_points
from store.tag_links import tag_links

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    stat_days = op.create_table(
        "stat_days",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=50), nullable=False),
        sa.Column("metric", sa.String(length=30), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("snapshot_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_stat_days_connection_id_connections",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name="fk_stat_days_snapshot_id_snapshots",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "platform", "metric", "day", name="pk_stat_days"),
    )
    op.create_index("ix_stat_days_snapshot_id", "stat_days", ["snapshot_id"])
    links = op.create_table(
        "post_tag_links",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("crm_post_id", sa.String(length=255), nullable=False),
        sa.Column("tag_id", sa.String(length=255), nullable=False),
        sa.Column("tag_name", sa.Text(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id", "crm_post_id"],
            ["posts.connection_id", "posts.crm_post_id"],
            name="fk_post_tag_links_post_posts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "connection_id", "crm_post_id", "tag_id", name="pk_post_tag_links"
        ),
    )
    op.create_index(
        "ix_post_tag_links_connection_id_posted_on",
        "post_tag_links",
        ["connection_id", "posted_on"],
    )
    op.create_index(
        "ix_post_tag_links_connection_id_tag_id", "post_tag_links", ["connection_id", "tag_id"]
    )
    _fill_stat_days(stat_days)
    _fill_links(links)


def downgrade() -> None:
    op.drop_index("ix_post_tag_links_connection_id_tag_id", table_name="post_tag_links")
    op.drop_index("ix_post_tag_links_connection_id_posted_on", table_name="post_tag_links")
    op.drop_table("post_tag_links")
    op.drop_index("ix_stat_days_snapshot_id", table_name="stat_days")
    op.drop_table("stat_days")


def _fill_stat_days(stat_days: sa.Table) -> None:
    """The days of every stored snapshot, older saves first so that the newest wins."""
    bind = op.get_bind()
    snapshots = sa.table(
        "snapshots",
        sa.column("id", sa.String()),
        sa.column("connection_id", sa.String()),
        sa.column("start_date", sa.Date()),
        sa.column("end_date", sa.Date()),
        sa.column("totals", sa.JSON()),
        sa.column("platforms", sa.JSON()),
        sa.column("daily", sa.JSON()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    # A later snapshot replaces the figures it gives, as save_snapshot does.
    newest: dict[tuple[str, str, str, date], dict[str, Any]] = {}
    rows = bind.execute(sa.select(snapshots).order_by(snapshots.c.updated_at, snapshots.c.id))
    for row in rows:
        points: list[StatPoint] = snapshot_points(
            _as_date(row.start_date), _as_date(row.end_date), row.totals, row.platforms, row.daily
        )
        for point in points:
            newest[(row.connection_id, point.platform, point.metric, point.day)] = {
                "connection_id": row.connection_id,
                "snapshot_id": row.id,
                **point.as_row(),
            }
    values = list(newest.values())
    if values:
        op.bulk_insert(stat_days, values)


def _fill_links(links: sa.Table) -> None:
    bind = op.get_bind()
    posts = sa.table(
        "posts",
        sa.column("connection_id", sa.String()),
        sa.column("crm_post_id", sa.String()),
        sa.column("post_tags", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    values: list[dict[str, Any]] = []
    for row in bind.execute(sa.select(posts)):
        values.extend(
            tag_links(row.connection_id, row.crm_post_id, row.post_tags, _as_datetime(row))
        )
    if values:
        op.bulk_insert(links, values)


def _as_date(value: Any) -> date:
    # SQLite hands back what a plain sa.Date column read gives: a date already, or its text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _as_datetime(row: Any) -> datetime:
    value = row.created_at
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
