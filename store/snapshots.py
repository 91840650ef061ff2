"""Statistics snapshots: one per (connection, start date, end date), upserted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from store.database import Database, require_connection
from store.ids import new_snapshot_id
from store.models import PostRow, SnapshotRow
from store.records import SnapshotRecord
from store.stat_days import replace_stat_days, snapshot_points

_SNAPSHOTS: Table = SnapshotRow.__table__  # type: ignore[assignment]
_POSTS: Table = PostRow.__table__  # type: ignore[assignment]
# `_save_statement` by dialect.
_SAVE: dict[str, Any] = {}
# Every post record of a connection's location now links to the snapshot just saved.
_LINK_POSTS = (
    update(_POSTS)
    .where(
        _POSTS.c.connection_id == bindparam("link_connection_id"),
        _POSTS.c.location_id == bindparam("link_location_id"),
    )
    .values(snapshot_id=bindparam("link_snapshot_id"))
)


class SnapshotsMixin:
    """The statistics snapshot methods of Store."""

    _database: Database

    def save_snapshot(
        self,
        *,
        connection_id: str,
        location_id: str,
        start_date: date,
        end_date: date,
        profile_ids: list[str],
        totals: dict[str, float],
        platforms: dict[str, dict[str, float]],
        daily: dict[str, list[float]],
        day_range: list[str],
    ) -> SnapshotRecord:
        """Store the statistics of one date range (replacing an earlier save of the same range)
        and link every post record of the connection's location to it.

        Its figures by day replace the stored ones of the same platform, metric and day in
        ``stat_days`` (``store.stat_days``), for the analytics trends.
        """
        if end_date < start_date:
            raise ValueError(f"end_date {end_date} is before start_date {start_date}")
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "id": new_snapshot_id(),  # kept only when the range is new
            "connection_id": connection_id,
            "location_id": location_id,
            "start_date": start_date,
            "end_date": end_date,
            "profile_ids": list(profile_ids),
            "totals": dict(totals),
            "platforms": {name: dict(numbers) for name, numbers in platforms.items()},
            "daily": {name: list(numbers) for name, numbers in daily.items()},
            "day_range": list(day_range),
            "created_at": now,
            "updated_at": now,
        }
        # Core statements in one transaction (the snapshot, its figures by day and the links of
        # the posts are written atomically): through the ORM, the read-modify-write of the row
        # and the figures' rows cost several times the database's own work.
        try:
            with self._database.core_transaction() as connection:
                saved = connection.execute(_save_statement(connection.dialect.name), values).one()
                replace_stat_days(
                    connection,
                    connection_id=connection_id,
                    snapshot_id=saved.id,
                    points=snapshot_points(
                        start_date, end_date, values["totals"], values["platforms"], values["daily"]
                    ),
                )
                connection.execute(
                    _LINK_POSTS,
                    {
                        "link_connection_id": connection_id,
                        "link_location_id": location_id,
                        "link_snapshot_id": saved.id,
                    },
                )
        except IntegrityError:
            # The upsert is atomic on both databases (two workers saving one range make one
            # row), so the only constraint it can break is the connection's foreign key.
            with self._database.transaction() as session:
                require_connection(session, connection_id)
            raise
        return SnapshotRecord(
            id=saved.id,
            connection_id=connection_id,
            location_id=location_id,
            start_date=start_date,
            end_date=end_date,
            profile_ids=list(profile_ids),
            totals=dict(values["totals"]),
            platforms={name: dict(numbers) for name, numbers in values["platforms"].items()},
            daily={name: list(numbers) for name, numbers in values["daily"].items()},
            day_range=list(day_range),
            created_at=saved.created_at,
            updated_at=saved.updated_at,
        )

    def get_snapshot(self, snapshot_id: str) -> SnapshotRecord | None:
        """The snapshot with this id, or None."""
        with self._database.transaction() as session:
            row = session.get(SnapshotRow, snapshot_id)
            return None if row is None else _snapshot_record(row)

    def latest_snapshot(self, connection_id: str) -> SnapshotRecord | None:
        """The connection's most recently saved snapshot, or None."""
        found = self.list_snapshots(connection_id, limit=1)
        return found[0] if found else None

    def list_snapshots(self, connection_id: str, limit: int = 20) -> list[SnapshotRecord]:
        """The connection's snapshots, most recently saved first."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        statement = (
            select(SnapshotRow)
            .where(SnapshotRow.connection_id == connection_id)
            .order_by(SnapshotRow.updated_at.desc(), SnapshotRow.id.desc())
            .limit(limit)
        )
        with self._database.transaction() as session:
            return [_snapshot_record(row) for row in session.scalars(statement)]


def _save_statement(dialect: str) -> Any:
    """`save_snapshot`'s upsert of the range's row (its values given at execution), built once
    per dialect: INSERT ... ON CONFLICT (connection, start, end) DO UPDATE ... RETURNING, so a
    range saved again keeps its id and creation time and takes the new figures."""
    statement = _SAVE.get(dialect)
    if statement is not None:
        return statement
    snapshots = _SNAPSHOTS.c
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(_SNAPSHOTS).values(
        {column.name: bindparam(column.name, type_=column.type) for column in _SNAPSHOTS.c}
    )
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[snapshots.connection_id, snapshots.start_date, snapshots.end_date],
        set_={
            name: excluded[name]
            for name in (
                "location_id",
                "profile_ids",
                "totals",
                "platforms",
                "daily",
                "day_range",
                "updated_at",
            )
        },
    ).returning(snapshots.id, snapshots.created_at, snapshots.updated_at)
    return _SAVE.setdefault(dialect, statement)


def _snapshot_record(row: SnapshotRow) -> SnapshotRecord:
    return SnapshotRecord(
        id=row.id,
        connection_id=row.connection_id,
        location_id=row.location_id,
        start_date=row.start_date,
        end_date=row.end_date,
        profile_ids=list(row.profile_ids),
        totals=dict(row.totals),
        platforms={name: dict(numbers) for name, numbers in row.platforms.items()},
        daily={name: list(numbers) for name, numbers in row.daily.items()},
        day_range=list(row.day_range),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
