"""The event log: every accepted event with its status, attempts and timestamps.

Nothing leaves the log except through ``delete_connection`` and ``discard_event``. State
changes are single UPDATE statements, so two workers touching one event never lose a count.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Result,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.database import Database, require_connection
from store.errors import NotFound, StoreUnavailable
from store.event_attempts import (
    LOST_ERROR,
    AttemptOutcome,
    close_attempts,
    close_lost,
    open_attempt,
    open_attempts,
)
from store.ids import new_event_id
from store.models import ConnectionRow, EventRow
from store.records import ErrorKind, EventRecord, EventSource, EventStatus

_SOURCES = frozenset(source.value for source in EventSource)
# The error kinds of an attempt that failed and will be tried again (a dead one has an
# ErrorKind): a failure worth another attempt, and an unexpected exception.
RETRYABLE_ERROR = "retryable"
UNEXPECTED = "unexpected"
# `EventsMixin._insert_event`'s statements by (dialect, skip_repeat).
_INSERT_EVENT: dict[tuple[str, bool], Any] = {}
_ERROR_KINDS = frozenset(kind.value for kind in ErrorKind)
# The tables, for the Core statements of a worker's hot path (no ORM session: about half the
# CPU of a one-statement transaction, docs/benchmarks.md).
_EVENTS: Table = EventRow.__table__  # type: ignore[assignment]
_CONNECTIONS: Table = ConnectionRow.__table__  # type: ignore[assignment]
# `_hot_statement`'s statements by name.
_HOT_STATEMENTS: dict[str, Any] = {}


@dataclass(frozen=True)
class AttemptEnd:
    """How a change of an event ends its running attempt (``store.event_attempts``)."""

    outcome: str
    error: str | None = None
    error_kind: str | None = None
    writeback: str | None = None


@dataclass(frozen=True)
class NewEvent:
    """An event to record: `EventsMixin.record_event`'s arguments, for `record_events`."""

    connection_id: str
    type: str
    payload: dict[str, Any]
    webhook_id: str | None = None
    source: str = EventSource.WEBHOOK


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
        unique constraint decides, and the loser reads the winner's row. NotFound for an
        unknown connection.

        One INSERT … ON CONFLICT DO NOTHING, in SQLAlchemy Core: the receiver calls this for
        every webhook, and the ORM unit of work, a look-up before the insert and a second
        transaction cost it more than the insert itself (docs/benchmarks.md).
        """
        if source not in _SOURCES:
            raise ValueError(f"unknown event source {source!r}")
        # A repeat whose first event was discarded between our INSERT and our read (its
        # enqueue failed) leaves nothing to answer with: the second try records it afresh.
        for _ in range(2):
            now = datetime.now(UTC)
            values = _new_event_values(connection_id, type, payload, webhook_id, source, now)
            statement = self._insert_event(skip_repeat=webhook_id is not None)
            try:
                with self._database.transaction() as session:
                    inserted = session.execute(statement, values).first()
            except IntegrityError:
                # Not the (connection, webhook_id) pair, which DO NOTHING skips: the
                # connection is gone (foreign key). NotFound says so; anything else re-raises.
                with self._database.transaction() as session:
                    require_connection(session, connection_id)
                raise
            if inserted is not None:
                return EventRecord(**{**values, "payload": dict(payload)}), True
            assert webhook_id is not None  # only a repeated delivery inserts nothing
            existing = self._event_by_webhook_id(connection_id, webhook_id)
            if existing is not None:
                return existing, False
        raise StoreUnavailable("the event log changed under two attempts to record an event")

    def record_events(self, events: Sequence[NewEvent]) -> list[tuple[EventRecord, bool]]:
        """`record_event` for each of ``events``, in one transaction; results in their order.

        What the receiver does with webhooks that arrive together: one commit for all of them
        instead of one each (the commit is most of an INSERT's cost). The same (connection,
        webhook_id) twice in one call is one event: the later one gets the earlier as its
        repeat. When a connection is gone (foreign key), nothing of the call is written and
        IntegrityError comes up: the caller records them one by one to learn which.
        """
        for event in events:
            if event.source not in _SOURCES:
                raise ValueError(f"unknown event source {event.source!r}")
        if not events:
            return []
        now = datetime.now(UTC)
        rows = [
            _new_event_values(e.connection_id, e.type, e.payload, e.webhook_id, e.source, now)
            for e in events
        ]
        # DO NOTHING skips only a repeated (connection, webhook_id): events without a
        # webhook_id never conflict (NULLs are distinct), so one statement serves all.
        with self._database.core_transaction() as connection:
            inserted = set(connection.execute(self._insert_event(skip_repeat=True), rows).scalars())
        results: list[tuple[EventRecord, bool]] = []
        first_of: dict[tuple[str, str], EventRecord] = {}
        for event, values in zip(events, rows, strict=True):
            if values["id"] in inserted:
                record = EventRecord(**{**values, "payload": dict(event.payload)})
                if event.webhook_id is not None:
                    first_of[(event.connection_id, event.webhook_id)] = record
                results.append((record, True))
                continue
            assert event.webhook_id is not None  # only a repeated delivery inserts nothing
            earlier = first_of.get((event.connection_id, event.webhook_id))
            if earlier is not None:
                results.append((earlier, False))
                continue
            results.append(
                self.record_event(
                    connection_id=event.connection_id,
                    type=event.type,
                    payload=event.payload,
                    webhook_id=event.webhook_id,
                    source=event.source,
                )
            )
        return results

    def _insert_event(self, *, skip_repeat: bool) -> Any:
        """INSERT of one event row (its values given at execution), RETURNING its id; with
        ``skip_repeat``, nothing when the (connection_id, webhook_id) pair is logged already
        (each dialect spells it its own way; SQLite 3.35 and PostgreSQL 9.5 both have it).

        Built once per dialect: a statement built with its values anew for each event costs
        SQLAlchemy more (coercing each value, a new cache key) than the INSERT itself.
        """
        dialect = self._database.engine.dialect.name
        key = (dialect, skip_repeat)
        statement = _INSERT_EVENT.get(key)
        if statement is None:
            table = EventRow.__table__
            insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
            statement = insert(table)
            if skip_repeat:
                statement = statement.on_conflict_do_nothing(
                    index_elements=[table.c.connection_id, table.c.webhook_id]
                )
            statement = _INSERT_EVENT.setdefault(key, statement.returning(table.c.id))
        return statement

    def discard_event(self, event_id: str) -> None:
        """Remove an event that was recorded but could not be enqueued, so that the CRM's
        retry of the same delivery is accepted afresh instead of answered "duplicate"."""
        with self._database.transaction() as session:
            session.execute(delete(EventRow).where(EventRow.id == event_id))

    def get_event(self, event_id: str) -> EventRecord | None:
        """The event with this id, or None."""
        with self._database.transaction() as session:
            row = session.get(EventRow, event_id)
            return None if row is None else event_record(row)

    def event_for_attempt(self, event_id: str) -> tuple[EventRecord, datetime | None] | None:
        """The event and its connection's ``updated_at`` (None when the connection is gone),
        in one SELECT; None when there is no such event.

        What a worker reads first: the version tells whether the connection it keeps in
        memory (`ConnectionsMixin.connection_at`) is still the stored one.
        """
        with self._database.core_transaction() as connection:
            row = connection.execute(
                _hot_statement("read"), {"read_event_id": event_id}
            ).one_or_none()
        if row is None:
            return None
        version: datetime | None = row.connection_updated_at
        return event_record(row), version

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
            return [event_record(row) for row in session.scalars(statement)]

    def start_attempt(
        self, event_id: str, task_id: str | None, *, lease_seconds: float
    ) -> EventRecord | None:
        """Claim the event for one attempt: ``processing``, one more attempt, a lease.

        Only an event that is due may be claimed: ``queued``, ``retrying`` whose
        ``next_attempt_at`` has come, or ``processing`` whose lease ran out (its attempt
        died). Anything else (done, dead, not yet due, running elsewhere) gives None and
        changes nothing: a redelivered or duplicated message then does no work. The claim is
        one conditional UPDATE, so two workers can never both start the same event. The
        attempt's row (``store.event_attempts``) is opened in the same transaction.
        """
        now = datetime.now(UTC)
        # UPDATE ... RETURNING: the claim and the claimed row in one round trip.
        with self._database.core_transaction() as connection:
            row = connection.execute(
                _hot_statement("claim"),
                {
                    "claim_event_id": event_id,
                    "claim_task_id": task_id,
                    "claim_now": now,
                    "claim_lease": now + timedelta(seconds=lease_seconds),
                },
            ).one_or_none()
            if row is None:
                _require_event(connection, event_id)  # NotFound for an unknown event
                return None
            open_attempt(connection, row, now, close_lost=bool(row.open_attempts))
            return event_record(row)

    def renew_lease(
        self,
        event_id: str,
        task_id: str | None,
        *,
        lease_seconds: float,
        attempt: int | None = None,
    ) -> bool:
        """Extend the running attempt's lease; False when the attempt no longer owns the event
        (it finished, or the sweep gave the event to another attempt).

        ``attempt`` is the attempt's number (``attempts`` when it started): a message Redis
        delivered again runs under the same task id, so only the number tells the attempt
        that overran from the one that took the event after it.
        """
        now = datetime.now(UTC)
        with self._database.transaction() as session:
            result = session.execute(
                update(EventRow)
                .where(
                    EventRow.id == event_id,
                    EventRow.status == EventStatus.PROCESSING.value,
                    EventRow.task_id == task_id,
                    *([] if attempt is None else [EventRow.attempts == attempt]),
                )
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    def owns_attempt(
        self, event_id: str, task_id: str | None, attempt: int, *, live_lease: bool = False
    ) -> bool:
        """Whether attempt number ``attempt`` under ``task_id`` still holds the event: it is
        ``processing`` under that task id with that many attempts, and with ``live_lease``
        its lease has not run out either.

        The fence of an attempt that overran TASK_TIME_LIMIT (workers/lease.py): once the
        sweep has taken the event (``queued``) or another attempt started it (one attempt
        more), the late one may neither write back nor record an outcome.
        """
        conditions = [
            EventRow.id == event_id,
            EventRow.status == EventStatus.PROCESSING.value,
            EventRow.task_id == task_id,
            EventRow.attempts == attempt,
        ]
        if live_lease:
            conditions.append(EventRow.lease_expires_at > datetime.now(UTC))
        with self._database.transaction() as session:
            return session.scalar(select(EventRow.id).where(*conditions)) is not None

    def mark_done(self, event_id: str, *, writeback: str | None = None) -> EventRecord:
        """The event was processed; ``last_error`` keeps what earlier attempts met.
        ``writeback`` says what the attempt wrote back to the CRM, for its history."""
        now = datetime.now(UTC)
        with self._database.core_transaction() as connection:
            row = connection.execute(
                _hot_statement("done"), {"done_event_id": event_id, "done_now": now}
            ).one_or_none()
            if row is not None:
                close_attempts(connection, event_id, AttemptOutcome.DONE, now, writeback=writeback)
        if row is None:
            raise NotFound(f"no event {event_id!r}")
        return event_record(row)

    def mark_retrying(
        self, event_id: str, error: str, next_attempt_at: datetime, *, unexpected: bool = False
    ) -> EventRecord:
        """The attempt failed and another is due at ``next_attempt_at`` (aware); the recovery
        sweep enqueues it then. ``unexpected`` counts the failure against the small budget of
        unexpected errors."""
        if next_attempt_at.tzinfo is None:
            raise ValueError("next_attempt_at must be timezone-aware")
        return self._change(
            event_id,
            AttemptEnd(
                AttemptOutcome.RETRYING, error, UNEXPECTED if unexpected else RETRYABLE_ERROR
            ),
            status=EventStatus.RETRYING.value,
            last_error=error,
            next_attempt_at=next_attempt_at,
            lease_expires_at=None,
            unexpected_errors=EventRow.unexpected_errors + (1 if unexpected else 0),
            finished_at=None,
            updated_at=datetime.now(UTC),
        )

    def mark_dead(self, event_id: str, error: str, kind: str) -> EventRecord:
        """No more attempts: the event waits for ``events replay``. ``kind`` is an ErrorKind."""
        if kind not in _ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        now = datetime.now(UTC)
        return self._change(
            event_id,
            AttemptEnd(AttemptOutcome.DEAD, error, kind),
            status=EventStatus.DEAD.value,
            last_error=error,
            error_kind=kind,
            finished_at=now,
            next_attempt_at=None,
            lease_expires_at=None,
            updated_at=now,
        )

    def mark_waiting(
        self, event_id: str, reason: str, *, attempt: str | None = None
    ) -> EventRecord | None:
        """Park the event with its connection: ``waiting``, with ``reason`` as its last error.

        Only while the connection is not active: this locks the connection row first (as
        `activate_connection` does), then changes the event only if the connection is still
        not active, in one statement. None when the connection is active after all (it was
        activated meanwhile): the caller runs the event instead. A done or dead event is left
        alone (None too).

        ``attempt`` is the task id of the caller's own running attempt, which found the
        connection unusable: the event must still be ``processing`` under it, and the attempt
        is given back (``attempts`` - 1), so that an event that meets revoked credentials
        again after each re-authorization never runs out of attempts for it. Without
        ``attempt``, an event running under a live lease is left alone (None): its attempt
        decides for itself, and marking it would let an activation queue it again while it
        still runs.
        """
        now = datetime.now(UTC)
        if attempt is None:
            # Not running: anything unfinished but an attempt under a live lease.
            waitable = or_(
                EventRow.status.in_(_WAITABLE_IDLE),
                and_(EventRow.status == EventStatus.PROCESSING.value, _lease_lost(now)),
            )
            attempts: Any = EventRow.attempts
        else:
            waitable = and_(
                EventRow.status == EventStatus.PROCESSING.value, EventRow.task_id == attempt
            )
            attempts = case((EventRow.attempts > 0, EventRow.attempts - 1), else_=0)
        with self._database.transaction() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                raise NotFound(f"no event {event_id!r}")
            connection_id = row.connection_id
            # PostgreSQL: wait for an activation in progress, then see what it committed.
            session.execute(
                select(ConnectionRow.id).where(ConnectionRow.id == connection_id).with_for_update()
            )
            # SQLite has no row locks: one UPDATE holds the write lock while it reads the
            # connection's status, so an activation cannot slip between the two.
            not_active = (
                select(ConnectionRow.id)
                .where(ConnectionRow.id == connection_id, ConnectionRow.status != "active")
                .exists()
            )
            result = session.execute(
                update(EventRow)
                .where(EventRow.id == event_id, waitable, not_active)
                .values(
                    status=EventStatus.WAITING.value,
                    attempts=attempts,
                    last_error=reason,
                    next_attempt_at=None,
                    lease_expires_at=None,
                    finished_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) == 0:
                return None
            if attempt is None:
                # Only an attempt whose lease ran out can have been running.
                close_attempts(session, event_id, AttemptOutcome.LOST, now, error=LOST_ERROR)
            else:
                close_attempts(session, event_id, AttemptOutcome.WAITING, now, error=reason)
            session.expire(row)
            return event_record(_event_row(session, event_id))

    def requeue(self, event_id: str) -> EventRecord:
        """Replay: ``queued`` again with a fresh attempt budget and one more ``replays``;
        ``last_error`` is kept.

        The replay count lets the worker write back under a new webhook-id and run under a
        task id that differs from the earlier runs'.
        """
        return self._change(
            event_id,
            None,
            status=EventStatus.QUEUED.value,
            attempts=0,
            unexpected_errors=0,
            replays=EventRow.replays + 1,
            error_kind=None,
            task_id=None,
            started_at=None,
            finished_at=None,
            next_attempt_at=None,
            lease_expires_at=None,
            updated_at=datetime.now(UTC),
        )

    def defer_attempt(
        self,
        event_id: str,
        task_id: str | None,
        *,
        reason: str,
        next_attempt_at: datetime | None = None,
    ) -> EventRecord | None:
        """Give back the running attempt ``task_id`` (it waits for a GHL rate-limit slot): one
        attempt fewer, no lease, and ``queued`` (its message is sent again), or ``retrying``
        until ``next_attempt_at`` with ``reason`` as its last error. The attempt's row ends
        ``deferred`` with ``reason``. None when the attempt no longer owns the event.

        One conditional UPDATE, like the other changes of status.
        """
        if next_attempt_at is not None and next_attempt_at.tzinfo is None:
            raise ValueError("next_attempt_at must be timezone-aware")
        now = datetime.now(UTC)
        c = _EVENTS.c
        values: dict[str, Any] = {
            "status": EventStatus.QUEUED.value,
            "attempts": case((c.attempts > 0, c.attempts - 1), else_=0),
            "next_attempt_at": None,
            "lease_expires_at": None,
            "finished_at": None,
            "updated_at": now,
        }
        if next_attempt_at is not None:
            values["status"] = EventStatus.RETRYING.value
            values["next_attempt_at"] = next_attempt_at
            values["last_error"] = reason
        with self._database.core_transaction() as connection:
            row = connection.execute(
                update(_EVENTS)
                .where(
                    c.id == event_id,
                    c.status == EventStatus.PROCESSING.value,
                    c.task_id == task_id,
                )
                .values(**values)
                .returning(*c)
            ).one_or_none()
            if row is None:
                return None
            close_attempts(connection, event_id, AttemptOutcome.DEFERRED, now, error=reason)
            return event_record(row)

    def retry_now(self, event_id: str) -> EventRecord | None:
        """Take a ``retrying`` event off its backoff: ``queued`` now, for the caller to enqueue;
        its attempts keep their count. None (nothing changed) when it is not ``retrying``: the
        recovery sweep, an attempt or another "retry now" took it first, so exactly one of
        them sends it. NotFound for an unknown event.
        """
        now = datetime.now(UTC)
        c = _EVENTS.c
        with self._database.core_transaction() as connection:
            row = connection.execute(
                update(_EVENTS)
                .where(c.id == event_id, c.status == EventStatus.RETRYING.value)
                .values(
                    status=EventStatus.QUEUED.value,
                    next_attempt_at=None,
                    updated_at=now,
                )
                .returning(*c)
            ).one_or_none()
            if row is None:
                _require_event(connection, event_id)
                return None
            return event_record(row)

    def claim_for_sweep(
        self,
        *,
        now: datetime,
        lost_queued: Collection[str] = (),
        queued_before: datetime | None = None,
        limit: int = 500,
    ) -> list[EventRecord]:
        """Take the events that nothing will run unless they are enqueued again, oldest first,
        and mark them ``queued`` (``updated_at`` now): the caller enqueues each.

        - ``retrying`` whose ``next_attempt_at`` has come: the store owns retries;
        - ``processing`` whose lease ran out: the attempt died with its worker or lost its
          broker connection;
        - the ``lost_queued`` ids (see `stale_queued`) still ``queued`` and unchanged since
          ``queued_before``: their message is gone.

        The UPDATE repeats the conditions, so two sweepers running at once never both take
        one event; a taken event is not taken again until it is due or stale once more.
        """
        if limit <= 0:
            raise ValueError("limit must be positive")
        _require_aware(now, queued_before)
        due = or_(
            and_(
                EventRow.status == EventStatus.RETRYING.value,
                or_(EventRow.next_attempt_at.is_(None), EventRow.next_attempt_at <= now),
            ),
            and_(EventRow.status == EventStatus.PROCESSING.value, _lease_lost(now)),
        )
        if lost_queued:
            if queued_before is None:
                raise ValueError("lost_queued needs queued_before")
            due = or_(
                due,
                and_(
                    EventRow.id.in_(list(lost_queued)),
                    EventRow.status == EventStatus.QUEUED.value,
                    EventRow.updated_at < queued_before,
                ),
            )
        candidates = (
            select(EventRow.id).where(due).order_by(EventRow.created_at, EventRow.id).limit(limit)
        )
        with self._database.transaction() as session:
            ids = list(session.scalars(candidates))
            if not ids:
                return []
            claimed = session.scalars(
                update(EventRow)
                .where(EventRow.id.in_(ids), due)
                .values(
                    status=EventStatus.QUEUED.value,
                    lease_expires_at=None,
                    next_attempt_at=None,
                    updated_at=now,
                )
                .returning(EventRow.id)
                .execution_options(synchronize_session=False)
            ).all()
            # Of these, only the processing ones had an attempt running: it was lost.
            close_lost(session, list(claimed), now)
            rows = session.scalars(
                select(EventRow).where(EventRow.id.in_(claimed)).order_by(EventRow.created_at)
            )
            return [event_record(row) for row in rows]

    def stale_queued(self, *, before: datetime, limit: int = 500) -> list[str]:
        """Ids of ``queued`` events unchanged since ``before``, oldest first: either still
        waiting their turn in a backlog, or their message was lost. The sweep asks the broker
        which, and passes the lost ones to `claim_for_sweep`."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        _require_aware(before)
        statement = (
            select(EventRow.id)
            .where(EventRow.status == EventStatus.QUEUED.value, EventRow.updated_at < before)
            .order_by(EventRow.created_at, EventRow.id)
            .limit(limit)
        )
        with self._database.transaction() as session:
            return list(session.scalars(statement))

    def count_events_by_status(self) -> dict[str, int]:
        """How many events are in each status, every status present (zero included)."""
        counts = {status.value: 0 for status in EventStatus}
        statement = select(EventRow.status, func.count()).group_by(EventRow.status)
        with self._database.transaction() as session:
            for status, count in session.execute(statement):
                counts[status] = count
        return counts

    def event_groups(self) -> dict[tuple[str, str], int]:
        """How many events there are of each (type, status) present, in one GROUP BY."""
        statement = select(EventRow.type, EventRow.status, func.count()).group_by(
            EventRow.type, EventRow.status
        )
        with self._database.transaction() as session:
            return {(type_, status): count for type_, status, count in session.execute(statement)}

    def oldest_queued_since(self) -> datetime | None:
        """When the `queued` event queued longest ago was queued (its ``updated_at``); None
        when none is queued. Read from the (status, updated_at) index."""
        statement = select(func.min(EventRow.updated_at)).where(
            EventRow.status == EventStatus.QUEUED.value
        )
        with self._database.transaction() as session:
            oldest: datetime | None = session.scalar(statement)
        return oldest

    def _change(self, event_id: str, ends: AttemptEnd | None, **values: Any) -> EventRecord:
        # UPDATE ... RETURNING: the change and the changed row in one round trip; with
        # ``ends``, the running attempt's row closed in the same transaction.
        with self._database.core_transaction() as connection:
            row = connection.execute(
                update(_EVENTS)
                .where(_EVENTS.c.id == event_id)
                .values(**values)
                .returning(*_EVENTS.c)
            ).one_or_none()
            if row is not None and ends is not None:
                close_attempts(
                    connection,
                    event_id,
                    ends.outcome,
                    values["updated_at"],
                    error=ends.error,
                    error_kind=ends.error_kind,
                    writeback=ends.writeback,
                )
        if row is None:
            raise NotFound(f"no event {event_id!r}")
        return event_record(row)

    def _event_by_webhook_id(self, connection_id: str, webhook_id: str) -> EventRecord | None:
        with self._database.transaction() as session:
            row = session.scalars(
                select(EventRow).where(
                    EventRow.connection_id == connection_id, EventRow.webhook_id == webhook_id
                )
            ).one_or_none()
            return None if row is None else event_record(row)


# What a message may put to waiting without an attempt of its own: a queued or retrying event,
# or one waiting already (its reason is brought up to date). A processing one only when its
# lease ran out; an attempt puts its own processing event to waiting (`mark_waiting`).
_WAITABLE_IDLE = (
    EventStatus.QUEUED.value,
    EventStatus.RETRYING.value,
    EventStatus.WAITING.value,
)


def _hot_statement(name: str) -> Any:
    """The statements of every event's attempt, their values given at execution, built once
    (built anew each time, their clauses cost SQLAlchemy more CPU than SQLite's own work):

    - ``read``: `event_for_attempt`'s SELECT;
    - ``claim``: `start_attempt`'s conditional UPDATE ... RETURNING;
    - ``done``: `mark_done`'s UPDATE ... RETURNING.
    """
    statement = _HOT_STATEMENTS.get(name)
    if statement is not None:
        return statement
    c = _EVENTS.c
    if name == "read":
        statement = (
            select(*c, _CONNECTIONS.c.updated_at.label("connection_updated_at"))
            .select_from(_EVENTS.outerjoin(_CONNECTIONS, _CONNECTIONS.c.id == c.connection_id))
            .where(c.id == bindparam("read_event_id", type_=c.id.type))
        )
    elif name == "claim":
        now = bindparam("claim_now", type_=c.updated_at.type)
        event_id = bindparam("claim_event_id", type_=c.id.type)
        claimable = or_(
            c.status == EventStatus.QUEUED.value,
            and_(
                c.status == EventStatus.RETRYING.value,
                or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now),
            ),
            and_(
                c.status == EventStatus.PROCESSING.value,
                # The lease ran out (`_lease_lost`).
                or_(c.lease_expires_at.is_(None), c.lease_expires_at < now),
            ),
        )
        statement = (
            update(_EVENTS)
            .where(c.id == event_id, claimable)
            .values(
                status=EventStatus.PROCESSING.value,
                attempts=c.attempts + 1,
                task_id=bindparam("claim_task_id", type_=c.task_id.type),
                started_at=now,
                finished_at=None,
                next_attempt_at=None,
                lease_expires_at=bindparam("claim_lease", type_=c.lease_expires_at.type),
                updated_at=now,
            )
            # Whether an earlier attempt is still open (it was lost), read in the same
            # statement: the claim closes it only then, no statement more for every event.
            # (The id as a parameter: SQLite's RETURNING names columns unqualified.)
            .returning(*c, open_attempts(event_id).label("open_attempts"))
        )
    elif name == "done":
        now = bindparam("done_now", type_=c.updated_at.type)
        statement = (
            update(_EVENTS)
            .where(c.id == bindparam("done_event_id", type_=c.id.type))
            .values(
                status=EventStatus.DONE.value,
                error_kind=None,
                finished_at=now,
                next_attempt_at=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(*c)
        )
    else:
        raise ValueError(f"no statement {name!r}")
    return _HOT_STATEMENTS.setdefault(name, statement)


def _require_event(connection: Connection, event_id: str) -> None:
    if connection.execute(select(_EVENTS.c.id).where(_EVENTS.c.id == event_id)).first() is None:
        raise NotFound(f"no event {event_id!r}")


def _event_row(session: Session, event_id: str) -> EventRow:
    row = session.get(EventRow, event_id)
    if row is None:
        raise NotFound(f"no event {event_id!r}")
    return row


def _new_event_values(
    connection_id: str,
    type: str,
    payload: dict[str, Any],
    webhook_id: str | None,
    source: str,
    now: datetime,
) -> dict[str, Any]:
    """Every column of a new ``queued`` event, named as `EventRecord`'s fields."""
    return {
        "id": new_event_id(),
        "connection_id": connection_id,
        "webhook_id": webhook_id,
        "source": str(source),
        "type": type,
        "payload": payload,
        "status": EventStatus.QUEUED.value,
        "attempts": 0,
        "replays": 0,
        "last_error": None,
        "task_id": None,
        "created_at": now,
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
        "next_attempt_at": None,
        "error_kind": None,
        "lease_expires_at": None,
        "unexpected_errors": 0,
    }


def event_record(row: Any) -> EventRecord:
    """The record of an `EventRow`, or of a Core row holding every column of ``events``."""
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
        error_kind=row.error_kind,
        lease_expires_at=row.lease_expires_at,
        unexpected_errors=row.unexpected_errors,
    )


def due_for_attempt(event: EventRecord, now: datetime) -> bool:
    """Whether ``Store.start_attempt`` would claim this event now (the same conditions, read
    from a record, so that a worker can tell a stale message from work before claiming)."""
    if event.status == EventStatus.QUEUED:
        return True
    if event.status == EventStatus.RETRYING:
        return event.next_attempt_at is None or event.next_attempt_at <= now
    if event.status == EventStatus.PROCESSING:
        return event.lease_expires_at is None or event.lease_expires_at < now
    return False


def _lease_lost(now: datetime) -> ColumnElement[bool]:
    """A ``processing`` attempt is dead when its lease ran out. Attempts started before leases
    existed have none: they count as dead, and running such an event again is safe."""
    return or_(EventRow.lease_expires_at.is_(None), EventRow.lease_expires_at < now)


def _require_aware(*moments: datetime | None) -> None:
    for moment in moments:
        if moment is not None and moment.tzinfo is None:
            raise ValueError("the sweep takes timezone-aware datetimes")


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0))
