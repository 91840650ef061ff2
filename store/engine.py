"""Engines for the store: URL clean-up, SQLite settings for several processes and threads, the
pool a threaded worker needs, fork safety."""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

# Several processes (web, worker, beat) share one SQLite file: a writer waits for the lock
# this long (milliseconds) instead of failing at once with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Connections a threaded process needs besides one per task thread: the recovery sweeper's
# thread, and one spare for a token refresh or an operator's command sharing the process.
SPARE_CONNECTIONS = 2
# Seconds a thread waits for a pooled connection before the store counts as unavailable (the
# task is then retried through the broker, workers/tasks.py): SQLAlchemy's default.
POOL_TIMEOUT_SECONDS = 30


def normalise_url(database_url: str) -> URL:
    """The URL with PostgreSQL pointed at psycopg 3 (the only driver installed).

    ``postgres://`` and ``postgresql://``, as hosting platforms hand them out, would
    otherwise ask SQLAlchemy for psycopg2.
    """
    url = make_url(database_url)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def ensure_sqlite_folder(url: URL) -> None:
    """Create the folder of a SQLite file (e.g. ``var/``) so that the first connect works."""
    database = url.database
    if not is_sqlite(url) or not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)


def pool_options(database_url: str, threads: int) -> dict[str, Any]:
    """``create_engine`` options for a process running ``threads`` tasks at once.

    Each running attempt holds at most one connection at a time for its own statements, and
    its lease keeper (workers/lease.py) one more while it renews: ``pool_size`` keeps one per
    thread open, ``max_overflow`` lets the renewals that coincide with statements open
    another for the moment. SQLAlchemy's default (5 + 10) would make the 16th of 32 threads
    wait for a connection. Connections are opened on demand, so a process that runs fewer
    tasks (prefork's children, the CLI) opens no more than it uses.

    In-memory SQLite keeps SQLAlchemy's own single-connection pool: every connection would
    otherwise be a database of its own.
    """
    url = normalise_url(database_url)
    if is_sqlite(url) and (not url.database or url.database == ":memory:"):
        return {}
    size = max(1, threads) + SPARE_CONNECTIONS
    return {"pool_size": size, "max_overflow": size, "pool_timeout": POOL_TIMEOUT_SECONDS}


def make_engine(database_url: str, engine_options: Mapping[str, Any] | None = None) -> Engine:
    """An Engine for ``database_url``; ``engine_options`` go to ``create_engine`` as they are."""
    url = normalise_url(database_url)
    ensure_sqlite_folder(url)
    options: dict[str, Any] = {"pool_pre_ping": not is_sqlite(url)}
    options.update(engine_options or {})
    if is_sqlite(url):
        # A pooled SQLite connection is used by whichever thread checks it out next (gunicorn's
        # threads, Celery's threads pool), one thread at a time: the pool hands it to one
        # borrower only, so Python's same-thread check would only refuse correct use.
        # (SQLAlchemy sets this itself for file databases; said here so no option drops it.)
        options["connect_args"] = {"check_same_thread": False, **options.get("connect_args", {})}
    engine = create_engine(url, **options)
    if is_sqlite(url):
        event.listen(engine, "connect", _configure_sqlite)
    _discard_connections_across_fork(engine)
    return engine


def _configure_sqlite(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers do not block the writer and the writer does not block readers.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # SQLite ignores foreign keys (and ON DELETE CASCADE) unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # Safe with WAL: a power loss may lose the last commits but never corrupts the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _discard_connections_across_fork(engine: Engine) -> None:
    """Never hand a connection opened in a parent process to a forked child.

    Celery's prefork pool and gunicorn fork after the app (and maybe its engine) exists; a
    socket used by two processes corrupts both sessions. The child forgets the inherited pool
    without closing it (closing would end the parent's connections too) and opens its own.
    """
    engine_ref = weakref.ref(engine)  # the hook must not keep a disposed engine alive

    def forget_parent_pool() -> None:
        forked = engine_ref()
        if forked is not None:
            forked.dispose(close=False)

    os.register_at_fork(after_in_child=forget_parent_pool)
