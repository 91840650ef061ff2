"""Reads of the event log for the console: counts per connection and a filtered, paged list.

Each is one statement on an index of ``events`` (store/models.py): the overview page runs
them every time it refreshes, so none reads a row per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from store.database import Database
from store.events import event_record
from store.models import EventRow
from store.records import EventRecord, EventStatus


@dataclass(frozen=True)
class EventFilter:
    """Which events a list shows; None is "any". ``created_from`` is inclusive and
    ``created_to`` exclusive, both timezone-aware."""

    connection_id: str | None = None
    type: str | None = None
    status: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class EventCursor:
    """Where a page of events ends: the last event's (created_at, id), newest first."""

    created_at: datetime
    id: str


class EventQueriesMixin:
    """The console's event-log reads of Store."""

    _database: Database

    def event_counts_since(self, since: datetime) -> dict[tuple[str, str], int]:
        """How many events created at or after ``since`` each (connection, status) has, in
        one GROUP BY on the ``created_at`` index; pairs without an event are left out."""
        _require_aware(since)
        statement = (
            select(EventRow.connection_id, EventRow.status, func.count())
            .where(EventRow.created_at >= since)
            .group_by(EventRow.connection_id, EventRow.status)
        )
        with self._database.transaction() as session:
            return {(conn, status): n for conn, status, n in session.execute(statement)}

    def last_done_by_connection(self) -> dict[str, datetime]:
        """When each connection's latest ``done`` event finished (connections with none are
        left out)."""
        statement = (
            select(EventRow.connection_id, func.max(EventRow.finished_at))
            .where(EventRow.status == EventStatus.DONE.value)
            .group_by(EventRow.connection_id)
        )
        with self._database.transaction() as session:
            # max() keeps the column's type: the values come back timezone-aware.
            return {
                conn: finished
                for conn, finished in session.execute(statement)
                if finished is not None
            }

    def waiting_by_connection(self) -> dict[str, int]:
        """How many ``waiting`` events each connection holds, of any age (from the
        (status, created_at) index)."""
        statement = (
            select(EventRow.connection_id, func.count())
            .where(EventRow.status == EventStatus.WAITING.value)
            .group_by(EventRow.connection_id)
        )
        with self._database.transaction() as session:
            waiting: dict[str, int] = {}
            for connection_id, count in session.execute(statement):
                waiting[connection_id] = count
            return waiting

    def find_events(
        self, where: EventFilter, *, after: EventCursor | None = None, limit: int = 50
    ) -> list[EventRecord]:
        """Events matching ``where``, newest first, at most ``limit``, starting past ``after``
        (keyset paging: a page costs the same however deep it is)."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        _require_aware(where.created_from, where.created_to)
        statement = select(EventRow)
        if where.connection_id is not None:
            statement = statement.where(EventRow.connection_id == where.connection_id)
        if where.type is not None:
            statement = statement.where(EventRow.type == where.type)
        if where.status is not None:
            statement = statement.where(EventRow.status == where.status)
        if where.created_from is not None:
            statement = statement.where(EventRow.created_at >= where.created_from)
        if where.created_to is not None:
            statement = statement.where(EventRow.created_at < where.created_to)
        if after is not None:
            _require_aware(after.created_at)
            statement = statement.where(
                or_(
                    EventRow.created_at < after.created_at,
                    and_(EventRow.created_at == after.created_at, EventRow.id < after.id),
                )
            )
        statement = statement.order_by(EventRow.created_at.desc(), EventRow.id.desc()).limit(limit)
        with self._database.transaction() as session:
            return [event_record(row) for row in session.scalars(statement)]


def _require_aware(*moments: datetime | None) -> None:
    for moment in moments:
        if moment is not None and moment.tzinfo is None:
            raise ValueError("the event queries take timezone-aware datetimes")
