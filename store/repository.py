"""Store: the one object the web app, workers and CLI use to read and write the database.

Each method runs in its own short transaction and returns frozen records (``store.records``),
so nothing is bound to a session afterwards. The methods live with their aggregate:
``store.connections``, ``store.events``, ``store.posts``, ``store.snapshots``,
``store.writes``, ``store.rotation``, ``store.users``, ``store.api_tokens``,
``store.mapping_versions``.

The processes build it with ``Store.from_settings(settings)``, so that SECRET_KEY and its
fallbacks reach it together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from socialbridge.config import Settings
from store.api_tokens import ApiTokensMixin
from store.connections import ConnectionsMixin
from store.crypto import SecretBox
from store.database import Database
from store.event_attempts import EventAttemptsMixin
from store.event_queries import EventQueriesMixin
from store.events import EventsMixin
from store.ghl_auth import GhlAuthMixin
from store.mapping_versions import MappingVersionsMixin
from store.posts import PostsMixin
from store.rotation import SecretRotationMixin
from store.snapshots import SnapshotsMixin
from store.stat_days import StatDaysMixin
from store.tag_links import TagLinksMixin
from store.users import UsersMixin
from store.writes import WritesMixin


class Store(
    ConnectionsMixin,
    EventsMixin,
    EventAttemptsMixin,
    EventQueriesMixin,
    PostsMixin,
    SnapshotsMixin,
    WritesMixin,
    SecretRotationMixin,
    GhlAuthMixin,
    MappingVersionsMixin,
    StatDaysMixin,
    TagLinksMixin,
    UsersMixin,
    ApiTokensMixin,
):
    """Connections, the event log, post records, statistics snapshots and the write ledger.

    ``database_url`` is a SQLAlchemy URL (``sqlite:///var/socialbridge.db``,
    ``postgresql+psycopg://…``); ``secret_key`` is SECRET_KEY, from which the key that
    encrypts stored secrets is derived; ``fallbacks`` are older keys
    (SECRET_KEY_FALLBACKS) that still decrypt what they stored; ``engine_options`` go to
    ``create_engine``.
    The schema must exist: ``store.migrate.upgrade(database_url)`` creates it.
    """

    def __init__(
        self,
        database_url: str,
        secret_key: str,
        *,
        fallbacks: Sequence[str] = (),
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._box = SecretBox(secret_key, fallbacks)
        self._database = Database(database_url, engine_options)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, engine_options: Mapping[str, Any] | None = None
    ) -> Store:
        """The store of DATABASE_URL with SECRET_KEY and SECRET_KEY_FALLBACKS.

        ConfigError when SECRET_KEY is not set.
        """
        return cls(
            settings.database_url,
            settings.require_secret_key(),
            fallbacks=settings.fallback_secret_keys(),
            engine_options=engine_options,
        )

    def ping(self) -> None:
        """Check that the database answers; StoreUnavailable when it does not."""
        self._database.ping()

    def dispose(self) -> None:
        """Close the pooled connections (at shutdown, and in tests)."""
        self._database.dispose()
