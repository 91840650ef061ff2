"""Event attempts: every attempt at an event, with its outcome, written with the event's changes.

An attempt's row is opened by the claim that starts it (`EventsMixin.start_attempt`) and closed
with its outcome by the store method that records that outcome on the event (``mark_done``,
``mark_retrying``, ``mark_dead``, ``mark_waiting``, ``defer_attempt``), in the same transaction
as the event's own change: an event's status and its latest attempt never disagree, and the
worker pays one more statement per change, not one more transaction.

    running -> done | retrying | waiting | deferred | dead
            -> lost   (its lease ran out: the sweep, or the claim of the next attempt, took the
                       event; its worker stopped, or the attempt overran TASK_TIME_LIMIT)

``waiting`` and ``deferred`` attempts were given back (they do not count against the event's
budget), so the attempt after one has the same number. Events recorded before the table
existed have no rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from store.database import Database
from store.models import EventAttemptRow

# An error is kept whole up to here; the rest of a longer one (a traceback in an unexpected
# error's repr) is cut, so that one event's history stays small.
ERROR_MAX_LENGTH = 2000
LOST_ERROR = (
    "its lease ran out before it finished: its worker stopped, or it overran TASK_TIME_LIMIT"
)

_ATTEMPTS: Table = EventAttemptRow.__table__  # type: ignore[assignment]
# `_statement`'s statements by name, built once (the worker runs them for every event).
_STATEMENTS: dict[str, Any] = {}


class AttemptOutcome(StrEnum):
    """How an attempt ended (an attempt still running has none)."""

    DONE = "done"
    RETRYING = "retrying"
    WAITING = "waiting"
    DEFERRED = "deferred"  # given back to wait for a GHL rate-limit slot
    DEAD = "dead"
    LOST = "lost"


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt at an event. ``outcome`` and ``finished_at`` are None while it runs."""

    event_id: str
    replay: int
    number: int
    task_id: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error_kind: str | None
    error: str | None
    writeback: str | None

    @property
    def took(self) -> timedelta | None:
        """How long it ran; None while it runs."""
        return None if self.finished_at is None else self.finished_at - self.started_at


def open_attempts(event_id: Any) -> Any:
    """How many attempts of the event ``event_id`` (a column or value) are open: a scalar
    subquery, for the claim's RETURNING (it reads the table as it was before the claim)."""
    return (
        select(func.count())
        .select_from(_ATTEMPTS)
        .where(_ATTEMPTS.c.event_id == event_id, _ATTEMPTS.c.outcome.is_(None))
        .scalar_subquery()
    )


def open_attempt(
    connection: Connection | Session, event: Any, now: datetime, *, close_lost: bool
) -> None:
    """Add the row of the attempt that just claimed ``event`` (its row as claimed, with
    ``replays``, ``attempts`` and ``task_id``); with ``close_lost`` (the claim found one open,
    `open_attempts`), first close as ``lost`` the attempt whose lease ran out."""
    if close_lost:
        close_attempts(connection, event.id, AttemptOutcome.LOST, now, error=LOST_ERROR)
    connection.execute(
        _statement("open"),
        {
            "event_id": event.id,
            "replay": event.replays,
            "number": event.attempts,
            "task_id": event.task_id,
            "started_at": now,
        },
    )


def close_attempts(
    connection: Connection | Session,
    event_id: str,
    outcome: str,
    now: datetime,
    *,
    error: str | None = None,
    error_kind: str | None = None,
    writeback: str | None = None,
) -> None:
    """Close the event's running attempt (if any: events from before this table have none, and
    an event may die or wait before any attempt) with ``outcome``."""
    connection.execute(
        _statement("close"),
        {
            "close_event_id": event_id,
            "close_outcome": str(outcome),
            "close_now": now,
            "close_error": _bounded(error),
            "close_error_kind": None if error_kind is None else str(error_kind),
            "close_writeback": _bounded(writeback),
        },
    )


def close_lost(session: Session, event_ids: list[str], now: datetime) -> None:
    """Close as ``lost`` the running attempts of events the recovery sweep took back."""
    if not event_ids:
        return
    session.execute(
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.event_id.in_(event_ids), _ATTEMPTS.c.outcome.is_(None))
        .values(outcome=AttemptOutcome.LOST.value, finished_at=now, error=LOST_ERROR)
    )


class EventAttemptsMixin:
    """The attempt history methods of Store."""

    _database: Database

    def attempts_of(self, event_id: str) -> list[AttemptRecord]:
        """The event's attempts, in the order they started (none for an unknown event)."""
        statement = (
            select(_ATTEMPTS).where(_ATTEMPTS.c.event_id == event_id).order_by(_ATTEMPTS.c.id)
        )
        with self._database.core_transaction() as connection:
            return [
                AttemptRecord(
                    event_id=row.event_id,
                    replay=row.replay,
                    number=row.number,
                    task_id=row.task_id,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    outcome=row.outcome,
                    error_kind=row.error_kind,
                    error=row.error,
                    writeback=row.writeback,
                )
                for row in connection.execute(statement)
            ]


def _bounded(text: str | None) -> str | None:
    if text is None or len(text) <= ERROR_MAX_LENGTH:
        return text
    return text[: ERROR_MAX_LENGTH - 1] + "…"


def _statement(name: str) -> Any:
    """``open``: the INSERT of a running attempt; ``close``: the UPDATE of an event's running
    attempt with its outcome. Values given at execution, so each is compiled once."""
    statement = _STATEMENTS.get(name)
    if statement is not None:
        return statement
    c = _ATTEMPTS.c
    if name == "open":
        statement = insert(_ATTEMPTS)
    elif name == "close":
        statement = (
            update(_ATTEMPTS)
            .where(
                c.event_id == bindparam("close_event_id", type_=c.event_id.type),
                c.outcome.is_(None),
            )
            .values(
                outcome=bindparam("close_outcome", type_=c.outcome.type),
                finished_at=bindparam("close_now", type_=c.finished_at.type),
                error=bindparam("close_error", type_=c.error.type),
                error_kind=bindparam("close_error_kind", type_=c.error_kind.type),
                writeback=bindparam("close_writeback", type_=c.writeback.type),
            )
        )
    else:
        raise ValueError(f"no statement {name!r}")
    return _STATEMENTS.setdefault(name, statement)
