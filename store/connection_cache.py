"""Connections kept decrypted in the process for a few seconds.

    cache = ConnectionCache()                       # CONNECTION_CACHE_SECONDS
    connection = cache.get(connection_id, store.get_connection)
    cache.drop(connection_id)                       # after a change, at once

Reading a connection is a SELECT and the decryption of every secret it holds (Fernet: an HMAC
and an AES pass each): about a fifth of a webhook's time in the receiver before this cache
(docs/benchmarks.md), for a record that changes a few times a year. Each web process reads
the same few connections thousands of times a second under load.

How fresh an entry is:

- an entry is used for at most ``ttl`` seconds after it was read, then read again;
- a change made through the same `Store` object (the web process's OAuth callback, a worker
  parking a connection) drops the entry at once (`Store` calls `drop` after committing);
- a change made by another process (`socialbridge connections update`, `rotate-secret`,
  `remove`) is seen within ``ttl`` seconds. For the receiver that means a rotated-in webhook
  secret or inbound token verifies, and a retired one stops verifying, at most
  ``CONNECTION_CACHE_SECONDS`` after the command returned; a removed connection's deliveries
  get 404 from the first one that tries to record an event.

A worker reads each event with its connection's ``updated_at`` (`Store.event_for_attempt`, one
SELECT) and asks for that version (`Store.connection_at`): every change to a connection sets
``updated_at``, so a worker sees a change made by any process (`connections update`,
`activate`, an OAuth install or token refresh) from the next event it starts, and keeps the
decrypted record meanwhile, for at most ``ttl`` like the receiver.

Only connections that exist are kept (an unknown id is looked up every time, so a connection
created a moment ago is found at once), and at most ``max_entries`` of them. Thread-safe:
gunicorn's threaded workers and Celery's threads pool share one cache per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from store.records import ConnectionRecord

CONNECTION_CACHE_SECONDS = 2.0
"""How long a read connection is used before it is read again. At a few hundred webhooks a
second per process this keeps one SELECT and decryption in several hundred, and bounds what
another process's change waits for to two seconds."""

MAX_CACHED_CONNECTIONS = 4096


class ConnectionCache:
    """Connection records by id, each used for ``ttl`` seconds after it was loaded."""

    def __init__(
        self,
        ttl: float = CONNECTION_CACHE_SECONDS,
        *,
        max_entries: int = MAX_CACHED_CONNECTIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, ConnectionRecord]] = {}
        # Bumped by every drop: a load that began before a drop must not store what it read,
        # which may be the row as it was before the change that caused the drop.
        self._generation = 0

    def get(
        self,
        connection_id: str,
        load: Callable[[str], ConnectionRecord | None],
        *,
        version: datetime | None = None,
    ) -> ConnectionRecord | None:
        """The cached connection if read less than ``ttl`` ago, else ``load(connection_id)``.

        With ``version`` (the connection's ``updated_at`` as the caller just read it from the
        database), a cached record of another version is read again too, however young.
        """
        now = self._clock()
        with self._lock:
            entry = self._entries.get(connection_id)
            if (
                entry is not None
                and now - entry[0] < self._ttl
                and (version is None or entry[1].updated_at == version)
            ):
                return entry[1]
            generation = self._generation
        # Outside the lock: a slow database must not hold up hits on other connections.
        record = load(connection_id)
        with self._lock:
            if record is None:
                self._entries.pop(connection_id, None)
            elif generation == self._generation and self._ttl > 0:
                if connection_id not in self._entries and len(self._entries) >= self._max_entries:
                    # The oldest inserted goes first: dicts keep insertion order.
                    del self._entries[next(iter(self._entries))]
                self._entries[connection_id] = (now, record)
        return record

    def drop(self, connection_id: str) -> None:
        """Forget the connection: its next `get` reads it again."""
        with self._lock:
            self._generation += 1
            self._entries.pop(connection_id, None)

    def clear(self) -> None:
        """Forget every connection."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
