"""The write ledger: what a connector recorded before sending a write, and whether it was sent.

For a CRM that cannot tell whether a write already landed (an email sent to IXACT Contact's
notes address cannot be looked up), the connector asks the ledger first:

    entry = store.begin_write(connection_id, key, writeback_type=..., contact=..., ...)
    if entry.status == "sent": nothing to do           # an earlier attempt got the CRM's yes
    ... send ...
    store.mark_write_sent(connection_id, key)

``begin_write`` counts the attempts; one that finds ``sending`` left by an earlier attempt
(the CRM took it but its answer never came, or the process died before marking) may send a
second copy, and its ``attempts`` says so. The entries also say which contacts were written
to with which tags (the IXACT Contact Groups export reads them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.exc import IntegrityError

from store.connections import check_text
from store.database import Database, require_connection
from store.errors import NotFound, StoreUnavailable
from store.models import CrmWriteRow
from store.records import CrmWriteRecord, WriteStatus

KEY_MAX_LENGTH = 255
# Rounds of begin_write when other attempts keep inserting or changing the same write.
BEGIN_ROUNDS = 5
CONTACT_MAX_LENGTH = 512


class WritesMixin:
    """The write-ledger methods of Store."""

    _database: Database

    def begin_write(
        self,
        connection_id: str,
        idempotency_key: str,
        *,
        writeback_type: str,
        contact: str,
        record: Mapping[str, str],
        tags: Sequence[str],
    ) -> CrmWriteRecord:
        """Record that a send of this write begins; the entry as it now stands.

        A new write is ``sending`` with 1 attempt. A write found ``sending`` counts one more
        attempt (and takes the newest contact, record and tags); one found ``sent`` is
        returned unchanged: the caller must not send it again.
        """
        check_text("idempotency_key", idempotency_key, max_length=KEY_MAX_LENGTH)
        check_text("contact", contact, max_length=CONTACT_MAX_LENGTH)
        # Two races lose an attempt its count, and both are met by going round again: a row
        # another attempt inserted first (IntegrityError on our INSERT), and one that became
        # visible between our UPDATE and our SELECT (PostgreSQL's READ COMMITTED takes a new
        # snapshot per statement).
        for _ in range(BEGIN_ROUNDS):
            try:
                entry = self._try_begin_write(
                    connection_id, idempotency_key, writeback_type, contact, record, tags
                )
            except IntegrityError:
                continue
            if entry is not None:
                return entry
        raise StoreUnavailable(
            f"write {idempotency_key!r} changed under every one of {BEGIN_ROUNDS} attempts to "
            "record it"
        )

    def mark_write_sent(self, connection_id: str, idempotency_key: str) -> CrmWriteRecord:
        """The CRM took the write: ``sent`` from now on. NotFound if it was never begun."""
        with self._database.transaction() as session:
            row = session.get(CrmWriteRow, (connection_id, idempotency_key), with_for_update=True)
            if row is None:
                raise NotFound(f"no write {idempotency_key!r} of connection {connection_id!r}")
            now = datetime.now(UTC)
            if row.status != WriteStatus.SENT:
                row.status = WriteStatus.SENT.value
                row.sent_at = now
                row.updated_at = now
            return _record(row)

    def list_writes(self, connection_id: str, *, status: str | None = None) -> list[CrmWriteRecord]:
        """The connection's recorded writes, oldest first (optionally of one status)."""
        statement = select(CrmWriteRow).where(CrmWriteRow.connection_id == connection_id)
        if status is not None:
            statement = statement.where(CrmWriteRow.status == status)
        statement = statement.order_by(CrmWriteRow.created_at, CrmWriteRow.idempotency_key)
        with self._database.transaction() as session:
            return [_record(row) for row in session.scalars(statement)]

    def writes_of_event(self, connection_id: str, event_id: str) -> list[CrmWriteRecord]:
        """The writes an event's runs recorded (their keys start with the event's id: see
        `FlowContext.idempotency_key`), oldest first."""
        prefix = f"{event_id}."
        statement = (
            select(CrmWriteRow)
            .where(
                CrmWriteRow.connection_id == connection_id,
                CrmWriteRow.idempotency_key.startswith(prefix, autoescape=True),
            )
            .order_by(CrmWriteRow.created_at, CrmWriteRow.idempotency_key)
        )
        with self._database.transaction() as session:
            return [_record(row) for row in session.scalars(statement)]

    def _try_begin_write(
        self,
        connection_id: str,
        idempotency_key: str,
        writeback_type: str,
        contact: str,
        record: Mapping[str, str],
        tags: Sequence[str],
    ) -> CrmWriteRecord | None:
        """The entry counted or created, or None when this attempt must go round again."""
        key = (CrmWriteRow.connection_id == connection_id) & (
            CrmWriteRow.idempotency_key == idempotency_key
        )
        with self._database.transaction() as session:
            now = datetime.now(UTC)
            # One statement, so that concurrent attempts each count (SQLite ignores FOR
            # UPDATE: a read-then-write there would lose an increment).
            counted = _rowcount(
                session.execute(
                    update(CrmWriteRow)
                    .where(key, CrmWriteRow.status == WriteStatus.SENDING.value)
                    .values(
                        attempts=CrmWriteRow.attempts + 1,
                        contact=contact,
                        record=dict(record),
                        tags=list(tags),
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
            )
            row = session.scalars(select(CrmWriteRow).where(key)).one_or_none()
            if row is not None and (counted or row.status == WriteStatus.SENT):
                return _record(row)
            if row is not None:
                return None
            require_connection(session, connection_id)
            row = CrmWriteRow(
                connection_id=connection_id,
                idempotency_key=idempotency_key,
                writeback_type=writeback_type,
                contact=contact,
                record=dict(record),
                tags=list(tags),
                status=WriteStatus.SENDING.value,
                attempts=1,
                created_at=now,
                updated_at=now,
                sent_at=None,
            )
            session.add(row)
            session.flush()
            return _record(row)


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE changed (a DML statement's result is a CursorResult)."""
    return cast(CursorResult[Any], result).rowcount


def _record(row: CrmWriteRow) -> CrmWriteRecord:
    return CrmWriteRecord(
        connection_id=row.connection_id,
        idempotency_key=row.idempotency_key,
        writeback_type=row.writeback_type,
        contact=row.contact,
        record=dict(row.record),
        tags=list(row.tags),
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
    )
