"""The journal: every GHL request the sandbox saw and what it answered, for tests to inspect.

Entries are plain JSON objects (the admin API returns them as they are). The journal keeps the
latest `max_entries` so a long benchmark cannot grow it without bound.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

DEFAULT_MAX_ENTRIES = 10_000


class Journal:
    """A bounded, thread-safe log of request/answer pairs."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._next_id = 1

    def record(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Append an entry, numbered in arrival order (`id`); return the stored copy."""
        with self._lock:
            stored = {"id": self._next_id, **entry}
            self._next_id += 1
            self._entries.append(stored)
            return stored

    def entries(self, *, path_contains: str | None = None) -> list[dict[str, Any]]:
        """The entries, oldest first; only those whose path contains `path_contains` if given."""
        with self._lock:
            entries = list(self._entries)
        if path_contains:
            entries = [entry for entry in entries if path_contains in entry["path"]]
        return entries

    def clear(self) -> int:
        """Forget every entry; return how many there were."""
        with self._lock:
            dropped = len(self._entries)
            self._entries.clear()
            return dropped
