"""The figures of each day, from the statistics snapshots, for the analytics trends.

GHL answers a statistics request with period totals (per platform too) and a few daily series
for the whole location (`schemas.ghl.Statistics`). Each snapshot is turned into one row per
(platform, metric, day) in `stat_days`; a later save replaces the figures it gives, so the
newest numbers GHL gave for a day are the ones kept, however many overlapping snapshots the
schedules saved (each run asks for the last 7 days).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store.database import Database
from store.models import StatDayRow

_STAT_DAYS: Table = StatDayRow.__table__  # type: ignore[assignment]
# `_replace_statement` by dialect.
_REPLACE: dict[str, Any] = {}

ALL_PLATFORMS = "all"
"""The platform name of the location's own figures, all platforms together."""

FLOW_METRICS = ("impressions", "reach", "likes", "comments", "shares", "clicks", "posts")
"""Figures counted per day: a longer period adds them up."""
LEVEL_METRICS = ("followers",)
"""Figures that are a count on a day: a longer period reads its last day."""
METRICS = (*FLOW_METRICS, *LEVEL_METRICS)


@dataclass(frozen=True)
class StatPoint:
    """One figure of one day."""

    platform: str
    metric: str
    day: date
    value: float
    estimated: bool

    def as_row(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "metric": self.metric,
            "day": self.day,
            "value": float(self.value),
            "estimated": self.estimated,
        }


@dataclass(frozen=True)
class StatDay:
    """A stored figure of one day, as the analytics read it."""

    day: date
    value: float
    estimated: bool


def snapshot_points(
    start_date: date,
    end_date: date,
    totals: Mapping[str, Any],
    platforms: Mapping[str, Mapping[str, Any]],
    daily: Mapping[str, Sequence[Any]],
) -> list[StatPoint]:
    """The figures of each day of one snapshot.

    - A daily series GHL sent for the location (impressions, likes, comments, posts) gives
      its days exactly, oldest first from ``start_date``.
    - A platform's period total is spread evenly over the period's days (``estimated``): GHL
      sends no per-platform series. The location's reach and shares, which GHL sends only per
      platform, are the sum of those spreads.
    - Followers are a count on the period's last day (``totals.followers``).
    """
    days = [
        start_date + timedelta(days=offset) for offset in range((end_date - start_date).days + 1)
    ]
    points: list[StatPoint] = []
    for metric, series in daily.items():
        if metric not in FLOW_METRICS:
            continue
        points.extend(
            StatPoint(ALL_PLATFORMS, metric, day, _number(value), estimated=False)
            for day, value in zip(days, series, strict=False)
            if _is_number(value)
        )
    spread_totals: dict[str, float] = {}
    for platform, figures in platforms.items():
        if platform == ALL_PLATFORMS:
            continue  # a platform GHL might name "all" would collide with the location's row
        for metric, value in figures.items():
            if metric not in FLOW_METRICS or not _is_number(value):
                continue
            share = _number(value) / len(days)
            points.extend(StatPoint(platform, metric, day, share, estimated=True) for day in days)
            spread_totals[metric] = spread_totals.get(metric, 0.0) + share
    for metric, share in spread_totals.items():
        if metric not in daily:
            points.extend(
                StatPoint(ALL_PLATFORMS, metric, day, share, estimated=True) for day in days
            )
    followers = totals.get("followers")
    if _is_number(followers):
        points.append(
            StatPoint(ALL_PLATFORMS, "followers", end_date, _number(followers), estimated=False)
        )
    return points


def replace_stat_days(
    connection: Connection, *, connection_id: str, snapshot_id: str, points: Sequence[StatPoint]
) -> None:
    """Each point replaces the stored figure of its platform, metric and day (in the caller's
    transaction); figures the snapshot does not give are kept.

    One prebuilt INSERT ... ON CONFLICT (the row's key) DO UPDATE, run with every point at once
    (executemany): the same rows as deleting the points' keys and inserting them again, since a
    snapshot gives each key at most once (`snapshot_points`), without compiling a DELETE with a
    tuple IN of every key for each snapshot (with the ORM around it, a save of ~250 points cost
    about 20 ms of CPU; about 9.5 now). Unlike a DELETE then INSERT, two transactions saving
    overlapping snapshots at once do not break the key on PostgreSQL (the DELETE did not see the
    other's uncommitted rows). The rows go in key order, so such transactions lock the rows
    they share in the same order (no deadlock).
    """
    if not points:
        return
    rows = [
        {"connection_id": connection_id, "snapshot_id": snapshot_id, **point.as_row()}
        for point in sorted(points, key=lambda point: (point.platform, point.metric, point.day))
    ]
    connection.execute(_replace_statement(connection.dialect.name), rows)


def _replace_statement(dialect: str) -> Any:
    """`replace_stat_days`' upsert, built once per dialect."""
    statement = _REPLACE.get(dialect)
    if statement is not None:
        return statement
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(_STAT_DAYS)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=list(_STAT_DAYS.primary_key.columns),
        set_={
            "value": excluded.value,
            "estimated": excluded.estimated,
            "snapshot_id": excluded.snapshot_id,
        },
    )
    return _REPLACE.setdefault(dialect, statement)


class StatDaysMixin:
    """The reads of `stat_days` for the analytics."""

    _database: Database

    def stat_days(
        self, connection_id: str, *, platform: str, metric: str, first: date, last: date
    ) -> list[StatDay]:
        """The stored figures of one platform and metric from ``first`` to ``last``, by day
        (one indexed range read: at most one row per day)."""
        statement = (
            select(StatDayRow.day, StatDayRow.value, StatDayRow.estimated)
            .where(
                StatDayRow.connection_id == connection_id,
                StatDayRow.platform == platform,
                StatDayRow.metric == metric,
                StatDayRow.day >= first,
                StatDayRow.day <= last,
            )
            .order_by(StatDayRow.day)
        )
        with self._database.transaction() as session:
            return [
                StatDay(row.day, row.value, row.estimated) for row in session.execute(statement)
            ]

    def stat_platforms(self, connection_id: str) -> list[str]:
        """The platforms the connection has figures for, ``all`` first, then by name."""
        statement = (
            select(StatDayRow.platform).where(StatDayRow.connection_id == connection_id).distinct()
        )
        with self._database.transaction() as session:
            found = set(session.scalars(statement))
        return sorted(found, key=lambda name: (name != ALL_PLATFORMS, name))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float:
    return float(value)
