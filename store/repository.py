"""Store: the one object the web app, workers and CLI use to read and write the database.

Each method runs in its own short transaction and returns frozen records (``store.records``),
so nothing is bound to a session afterwards. The methods live with their aggregate:
``store.connections``, ``store.events``, ``store.posts``, ``store.snapshots``,
``store.writes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store.connections import ConnectionsMixin
from store.crypto import SecretBox
from store.database import Database
from store.events import EventsMixin
from store.posts import PostsMixin
from store.snapshots import SnapshotsMixin
from store.writes import WritesMixin


class Store(ConnectionsMixin, EventsMixin, PostsMixin, SnapshotsMixin, WritesMixin):
    """Connections, the event log, post records, statistics snapshots and the write ledger.

    ``database_url`` is a SQLAlchemy URL (``sqlite:///var/socialbridge.db``,
    ``postgresql+psycopg://…``); ``secret_key`` is SECRET_KEY, from which the key that
    encrypts stored secrets is derived; ``engine_options`` go to ``create_engine``.
    The schema must exist: ``store.migrate.upgrade(database_url)`` creates it.
    """

    def __init__(
        self,
        database_url: str,
        secret_key: str,
        *,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._box = SecretBox(secret_key)
        self._database = Database(database_url, engine_options)

    def ping(self) -> None:
        """Check that the database answers; StoreUnavailable when it does not."""
        self._database.ping()

    def dispose(self) -> None:
        """Close the pooled connections (at shutdown, and in tests)."""
        self._database.dispose()
