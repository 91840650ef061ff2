"""The journal: every GHL request the sandbox saw and what it answered, for tests to inspect.

Entries are plain JSON objects (the admin API returns them as they are). The journal keeps the
latest `max_entries` so a long benchmark cannot grow it without bound; `CallCounts` keeps
every request's count by endpoint and status, for benchmarks that make more.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, deque
from collections.abc import Mapping
from http import HTTPStatus
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


class CallCounts:
    """How many requests each endpoint got, by answered status. Thread-safe, never trimmed.

    The journal keeps the latest entries only; a benchmark making more calls than that still
    reads its totals here. An endpoint is named by its method and path template, as in the
    OpenAPI file (``GET /social-media-posting/{location_id}/tags``): one count per operation,
    whatever the location or post id.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts[(endpoint, status)] += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"total", "rate_limited", "by_status", "by_endpoint": {endpoint: {status: n}}}``.

        Statuses are strings (JSON object keys); ``rate_limited`` is the number of 429s.
        """
        with self._lock:
            counts = dict(self._counts)
        by_endpoint: dict[str, dict[str, int]] = {}
        by_status: Counter[str] = Counter()
        for (endpoint, status), count in sorted(counts.items()):
            by_endpoint.setdefault(endpoint, {})[str(status)] = count
            by_status[str(status)] += count
        return {
            "total": sum(counts.values()),
            "rate_limited": by_status.get(str(HTTPStatus.TOO_MANY_REQUESTS), 0),
            "by_status": dict(sorted(by_status.items())),
            "by_endpoint": by_endpoint,
        }

    def clear(self) -> int:
        """Forget every count; return how many requests they held."""
        with self._lock:
            total = sum(self._counts.values())
            self._counts.clear()
            return total


def endpoint_template(method: str, rule: str | None) -> str:
    """``GET /social-media-posting/{location_id}/posts/{post_id}`` from a Flask rule
    (``<location_id>`` placeholders); ``GET (no route)`` for a path no route matched."""
    if rule is None:
        return f"{method} (no route)"
    return f"{method} {_PLACEHOLDER.sub(_braced, rule)}"


def _braced(match: re.Match[str]) -> str:
    return "{" + match.group(1) + "}"


_PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
