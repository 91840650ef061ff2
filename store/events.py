"""The event log: every accepted event with its status, attempts and timestamps.

Nothing leaves the log except through ``delete_connection`` and ``discard_event``. State
changes are single UPDATE statements, so two workers touching one event never lose a count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.database import Database, require_connection
from store.errors import NotFound
from store.ids import new_event_id
from store.models import EventRow
from store.records import EventRecord, EventSource, EventStatus

_SOURCES = frozenset(source.value for source in EventSource)


class EventsMixin:
    """The event methods of Store."""

    _database: Database

    def record_event(
        self,
        *,
        connection_id: str,
        type: str,
        payload: dict[str, Any],
        webhook_id: str | None = None,
        source: str = EventSource.WEBHOOK,
    ) -> tuple[EventRecord, bool]:
        """Log a new ``queued`` event; ``(event, True)``.

        With a ``webhook_id`` already logged for this connection, nothing is written and the
        first event comes back: ``(existing, False)``. Safe when two deliveries race: the
        unique constraint decides, and the loser reads the winner's row.
        """
        if source not in _SOURCES:
            raise ValueError(f"unknown event source {source!r}")
        if webhook_id is not None:
            existing = self._event_by_webhook_id(connection_id, webhook_id)
            if existing is not None:
                return existing, False
        now = datetime.now(UTC)
        row = EventRow(
            id=new_event_id(),
            connection_id=connection_id,
            webhook_id=webhook_id,
            source=str(source),
            type=type,
            payload=payload,
            status=EventStatus.QUEUED.value,
            attempts=0,
            replays=0,
            last_error=None,
            task_id=None,
            created_at=now,
            updated_at=now,
            started_at=None,
            finished_at=None,
            next_attempt_at=None,
        )
        try:
            with self._database.transaction() as session:
                session.add(row)
        except IntegrityError:
            if webhook_id is not None:
                existing = self._event_by_webhook_id(connection_id, webhook_id)
                if existing is not None:
                    return existing, False
            with self._database.transaction() as session:
                require_connection(session, connection_id)
            raise
        return _event_record(row), True

    def discard_event(self, event_id: str) -> None:
        """Remove an event that was recorded but could not be enqueued, so that the CRM's
        retry of the same delivery is accepted afresh instead of answered "duplicate"."""
        with self._database.transaction() as session:
            session.execute(delete(EventRow).where(EventRow.id == event_id))

    def get_event(self, event_id: str) -> EventRecord | None:
        """The event with this id, or None."""
        with self._database.transaction() as session:
            row = session.get(EventRow, event_id)
            return None if row is None else _event_record(row)

    def list_events(
        self,
        *,
        connection_id: str | None = None,
        status: str | None = None,
        type: str | None = None,
        limit: int = 50,
    ) -> list[EventRecord]:
        """Events matching every filter given, newest first, at most ``limit``."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        statement = select(EventRow)
        if connection_id is not None:
            statement = statement.where(EventRow.connection_id == connection_id)
        if status is not None:
            statement = statement.where(EventRow.status == status)
        if type is not None:
            statement = statement.where(EventRow.type == type)
        statement = statement.order_by(EventRow.created_at.desc(), EventRow.id.desc()).limit(limit)
        with self._database.transaction() as session:
            return [_event_record(row) for row in session.scalars(statement)]

    def start_attempt(self, event_id: str, task_id: str | None) -> EventRecord:
        """A worker begins: ``processing``, one more attempt, ``started_at`` now."""
        now = datetime.now(UTC)
        return self._change(
            event_id,
            status=EventStatus.PROCESSING.value,
            attempts=EventRow.attempts + 1,
            task_id=task_id,
            started_at=now,
            finished_at=None,
            next_attempt_at=None,
            updated_at=now,
        )

    def mark_done(self, event_id: str) -> EventRecord:
        """The event was processed; ``last_error`` keeps what earlier attempts met."""
        now = datetime.now(UTC)
        return self._change(
            event_id,
            status=EventStatus.DONE.value,
            finished_at=now,
            next_attempt_at=None,
            updated_at=now,
        )

    def mark_retrying(self, event_id: str, error: str, next_attempt_at: datetime) -> EventRecord:
        """The attempt failed and another is scheduled at ``next_attempt_at`` (aware)."""
        if next_attempt_at.tzinfo is None:
            raise ValueError("next_attempt_at must be timezone-aware")
        return self._change(
            event_id,
            status=EventStatus.RETRYING.value,
            last_error=error,
            next_attempt_at=next_attempt_at,
            finished_at=None,
            updated_at=datetime.now(UTC),
        )

    def mark_dead(self, event_id: str, error: str) -> EventRecord:
        """No more attempts: the event waits for ``events replay``."""
        now = datetime.now(UTC)
        return self._change(
            event_id,
            status=EventStatus.DEAD.value,
            last_error=error,
            finished_at=now,
            next_attempt_at=None,
            updated_at=now,
        )

    def requeue(self, event_id: str) -> EventRecord:
        """Replay: ``queued`` again with a fresh attempt budget and one more ``replays``;
        ``last_error`` is kept.

        The replay count lets the worker write back under a new webhook-id and run under a
        task id that differs from the earlier runs'.
        """
        return self._change(
            event_id,
            status=EventStatus.QUEUED.value,
            attempts=0,
            replays=EventRow.replays + 1,
            task_id=None,
            started_at=None,
            finished_at=None,
            next_attempt_at=None,
            updated_at=datetime.now(UTC),
        )

    def touch_event(self, event_id: str) -> EventRecord:
        """Set ``updated_at`` to now and change nothing else.

        The recovery sweep calls it after re-enqueueing an event so that the next sweep does
        not pick the same event again before the worker had a chance to run it.
        """
        return self._change(event_id, updated_at=datetime.now(UTC))

    def find_stale_events(
        self,
        *,
        processing_started_before: datetime,
        queued_before: datetime,
        retrying_due_before: datetime,
        limit: int = 100,
    ) -> list[EventRecord]:
        """Events that should be moving but apparently are not, oldest first (``created_at``).

        - ``processing`` since before ``processing_started_before`` (``started_at``): the
          worker was killed hard, or its message was lost;
        - ``queued`` and unchanged since before ``queued_before`` (``updated_at``): the broker
          lost the message, or it was never sent;
        - ``retrying`` with ``next_attempt_at`` before ``retrying_due_before``: the delayed
          retry never arrived.

        Each kind must also be unchanged (``updated_at``) since before its own limit, which
        the untouched event always is (every state change sets ``updated_at`` together with
        the time tested); after ``touch_event`` it is not, so a re-enqueued event is not swept
        again until its limit passes once more.
        """
        if limit <= 0:
            raise ValueError("limit must be positive")
        for moment in (processing_started_before, queued_before, retrying_due_before):
            if moment.tzinfo is None:
                raise ValueError("find_stale_events takes timezone-aware datetimes")
        stale = or_(
            and_(
                EventRow.status == EventStatus.PROCESSING.value,
                EventRow.started_at < processing_started_before,
                EventRow.updated_at < processing_started_before,
            ),
            and_(
                EventRow.status == EventStatus.QUEUED.value,
                EventRow.updated_at < queued_before,
            ),
            and_(
                EventRow.status == EventStatus.RETRYING.value,
                EventRow.next_attempt_at < retrying_due_before,
                EventRow.updated_at < retrying_due_before,
            ),
        )
        statement = (
            select(EventRow).where(stale).order_by(EventRow.created_at, EventRow.id).limit(limit)
        )
        with self._database.transaction() as session:
            return [_event_record(row) for row in session.scalars(statement)]

    def count_events_by_status(self) -> dict[str, int]:
        """How many events are in each status, every status present (zero included)."""
        counts = {status.value: 0 for status in EventStatus}
        statement = select(EventRow.status, func.count()).group_by(EventRow.status)
        with self._database.transaction() as session:
            for status, count in session.execute(statement):
                counts[status] = count
        return counts

    def _change(self, event_id: str, **values: Any) -> EventRecord:
        with self._database.transaction() as session:
            session.execute(
                update(EventRow)
                .where(EventRow.id == event_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return _event_record(_event_row(session, event_id))

    def _event_by_webhook_id(self, connection_id: str, webhook_id: str) -> EventRecord | None:
        with self._database.transaction() as session:
            row = session.scalars(
                select(EventRow).where(
                    EventRow.connection_id == connection_id, EventRow.webhook_id == webhook_id
                )
            ).one_or_none()
            return None if row is None else _event_record(row)


def _event_row(session: Session, event_id: str) -> EventRow:
    row = session.get(EventRow, event_id)
    if row is None:
        raise NotFound(f"no event {event_id!r}")
    return row


def _event_record(row: EventRow) -> EventRecord:
    return EventRecord(
        id=row.id,
        connection_id=row.connection_id,
        webhook_id=row.webhook_id,
        source=row.source,
        type=row.type,
        payload=dict(row.payload),
        status=row.status,
        attempts=row.attempts,
        replays=row.replays,
        last_error=row.last_error,
        task_id=row.task_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        next_attempt_at=row.next_attempt_at,
    )
