"""Mapping versions: the history of a connection's mapping, and saving a new current one.

Every text stored as a connection's mapping (by the console, by `connections add|update
--mapping`) is also kept as a numbered version, in the same transaction: the history cannot
miss a mapping that was in use, nor list one that never was. A rollback saves an earlier
version's text again as a new version (``restored_from`` says which), so the history only
grows. Removing a connection's mapping adds no version; the history stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.connection_cache import ConnectionCache
from store.database import Database
from store.errors import NotFound
from store.models import ConnectionRow, MappingVersionRow

# Long enough for an email address, the column's width.
AUTHOR_MAX_LENGTH = 320


@dataclass(frozen=True)
class MappingVersionRecord:
    """One saved mapping of a connection. ``number`` counts from 1 per connection."""

    connection_id: str
    number: int
    text: str
    created_at: datetime
    author: str | None
    restored_from: int | None


def add_version(
    session: Session,
    connection_id: str,
    text: str,
    *,
    author: str | None,
    now: datetime,
    restored_from: int | None = None,
) -> MappingVersionRow:
    """Add the next version of the connection's mapping in ``session``.

    The caller holds the connection's row locked (``for update``) or has just inserted it, so
    two saves cannot both take the same number (and the primary key refuses it if they did).
    """
    latest = session.scalar(
        select(func.max(MappingVersionRow.number)).where(
            MappingVersionRow.connection_id == connection_id
        )
    )
    row = MappingVersionRow(
        connection_id=connection_id,
        number=(latest or 0) + 1,
        text=text,
        created_at=now,
        author=author[:AUTHOR_MAX_LENGTH] if author else None,
        restored_from=restored_from,
    )
    session.add(row)
    return row


class MappingVersionsMixin:
    """The mapping history methods of Store."""

    _database: Database

    @property
    def connection_cache(self) -> ConnectionCache:
        # Store's is ConnectionsMixin's (before this one in its bases); declared for the types.
        raise NotImplementedError

    def save_mapping(
        self,
        connection_id: str,
        text: str,
        *,
        author: str | None = None,
        restored_from: int | None = None,
    ) -> MappingVersionRecord:
        """Make ``text`` the connection's mapping and add it as its next version, at once.

        Whether ``text`` is a valid mapping is the caller's to check first
        (`console.mappings.save`); this only guards the column (ValueError). NotFound for an
        unknown connection.
        """
        from store.connections import check_mapping  # here: store.connections imports this module

        check_mapping(text)
        now = datetime.now(UTC)
        try:
            with self._database.transaction() as session:
                statement = (
                    select(ConnectionRow).where(ConnectionRow.id == connection_id).with_for_update()
                )
                connection = session.scalars(statement).one_or_none()
                if connection is None:
                    raise NotFound(f"no connection {connection_id!r}")
                connection.mapping = text
                connection.updated_at = now
                row = add_version(
                    session, connection_id, text, author=author, now=now,
                    restored_from=restored_from,
                )  # fmt: skip
                session.flush()
                return _version_record(row)
        finally:
            # After the commit (or the rollback): a reader must not cache the row before it.
            self.connection_cache.drop(connection_id)

    def list_mapping_versions(self, connection_id: str) -> list[MappingVersionRecord]:
        """The connection's mapping versions, newest first."""
        statement = (
            select(MappingVersionRow)
            .where(MappingVersionRow.connection_id == connection_id)
            .order_by(MappingVersionRow.number.desc())
        )
        with self._database.transaction() as session:
            return [_version_record(row) for row in session.scalars(statement)]

    def get_mapping_version(self, connection_id: str, number: int) -> MappingVersionRecord | None:
        """One version of the connection's mapping, or None."""
        with self._database.transaction() as session:
            row = session.get(MappingVersionRow, (connection_id, number))
            return None if row is None else _version_record(row)


def _version_record(row: MappingVersionRow) -> MappingVersionRecord:
    return MappingVersionRecord(
        connection_id=row.connection_id,
        number=row.number,
        text=row.text,
        created_at=row.created_at,
        author=row.author,
        restored_from=row.restored_from,
    )
