"""Statistics snapshots: one per (connection, start date, end date), upserted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from store.database import Database, require_connection
from store.ids import new_snapshot_id
from store.models import PostRow, SnapshotRow
from store.records import SnapshotRecord
from store.stat_days import replace_stat_days, snapshot_points


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
        values: dict[str, Any] = {
            "location_id": location_id,
            "profile_ids": list(profile_ids),
            "totals": dict(totals),
            "platforms": {name: dict(numbers) for name, numbers in platforms.items()},
            "daily": {name: list(numbers) for name, numbers in daily.items()},
            "day_range": list(day_range),
        }
        try:
            return self._try_save_snapshot(connection_id, start_date, end_date, values)
        except IntegrityError:
            # Another worker inserted this range first: update its row instead.
            return self._try_save_snapshot(connection_id, start_date, end_date, values)

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

    def _try_save_snapshot(
        self, connection_id: str, start_date: date, end_date: date, values: dict[str, Any]
    ) -> SnapshotRecord:
        with self._database.transaction() as session:
            row = session.scalars(
                select(SnapshotRow)
                .where(
                    SnapshotRow.connection_id == connection_id,
                    SnapshotRow.start_date == start_date,
                    SnapshotRow.end_date == end_date,
                )
                .with_for_update()
            ).one_or_none()
            now = datetime.now(UTC)
            if row is None:
                require_connection(session, connection_id)
                row = SnapshotRow(
                    id=new_snapshot_id(),
                    connection_id=connection_id,
                    start_date=start_date,
                    end_date=end_date,
                    created_at=now,
                )
                session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            session.flush()
            replace_stat_days(
                session,
                connection_id=connection_id,
                snapshot_id=row.id,
                points=snapshot_points(start_date, end_date, row.totals, row.platforms, row.daily),
            )
            session.execute(
                update(PostRow)
                .where(
                    PostRow.connection_id == connection_id,
                    PostRow.location_id == row.location_id,
                )
                .values(snapshot_id=row.id)
                .execution_options(synchronize_session=False)
            )
        return _snapshot_record(row)


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
