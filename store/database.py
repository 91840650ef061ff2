"""One engine and its short transactions; database failures become StoreUnavailable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from socialbridge.logs import get_logger
from store.engine import make_engine
from store.errors import NotFound, StoreUnavailable
from store.models import ConnectionRow

log = get_logger(__name__)

_UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a table that does not exist


class Database:
    """The engine of one database URL and a factory of one-transaction sessions."""

    def __init__(self, database_url: str, engine_options: Mapping[str, Any] | None = None) -> None:
        self.engine = make_engine(database_url, engine_options)
        # expire_on_commit=False: rows stay readable after commit while we turn them into records.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed at the end of the block, rolled back on error."""
        try:
            with self._sessions.begin() as session:
                yield session
        except DBAPIError as error:
            unavailable = _as_unavailable(error)
            if unavailable is None:
                raise
            log.warning("store.unavailable", error=str(unavailable))
            raise unavailable from error

    @contextmanager
    def core_transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction, committed at the end of the block.

        For the hottest statement only (the receiver's INSERT of each batch of events): with no
        ORM session around it, a one-statement transaction costs SQLAlchemy about half the CPU
        (docs/benchmarks.md). Failures map to StoreUnavailable as `transaction` does.
        """
        try:
            with self.engine.begin() as connection:
                yield connection
        except DBAPIError as error:
            unavailable = _as_unavailable(error)
            if unavailable is None:
                raise
            log.warning("store.unavailable", error=str(unavailable))
            raise unavailable from error

    def ping(self) -> None:
        """Run ``SELECT 1``; StoreUnavailable when the database does not answer."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            raise _as_unavailable(error) or StoreUnavailable(str(error.orig)) from error

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def require_connection(session: Session, connection_id: str) -> None:
    """NotFound unless the connection exists (checked before inserting rows that refer to it)."""
    if session.get(ConnectionRow, connection_id) is None:
        raise NotFound(f"no connection {connection_id!r}")


def _as_unavailable(error: DBAPIError) -> StoreUnavailable | None:
    """StoreUnavailable for failures that are not the caller's fault, else None."""
    detail = str(error.orig).strip()
    missing_table = "no such table" in detail or (
        isinstance(error, ProgrammingError)
        and getattr(error.orig, "sqlstate", None) == _UNDEFINED_TABLE
    )
    if missing_table:
        return StoreUnavailable(
            f"the database has no schema yet ({detail}): run `socialbridge db upgrade`"
        )
    if isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated:
        return StoreUnavailable(f"the database is unavailable: {detail}")
    return None
