"""Injected faults: answers the sandbox gives instead of the real one, queued by tests.

A fault matches requests whose path contains `path_contains` (and, when given, whose method
is `method`), and is used up after `times` matching requests. It either delays the request by
`delay_ms` and then lets it through (`status` None: pure latency), or answers `status` with a
spec-shaped error body (after the delay, if any). Faults are checked in the order they were
queued; the first one that matches is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

MAX_DELAY_MS = 60_000


class FaultError(ValueError):
    """A fault description that cannot be used; the message says which field."""


@dataclass(frozen=True)
class Fault:
    path_contains: str
    status: int | None = None
    times: int = 1
    delay_ms: int = 0
    retry_after: float | None = None
    method: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Read a fault from the admin API's JSON; raise FaultError when it cannot be used."""
        known = {"path_contains", "status", "times", "delay_ms", "retry_after", "method"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultError(f"unknown fields: {', '.join(unknown)}")
        path_contains = data.get("path_contains", "")
        status = data.get("status")
        times = data.get("times", 1)
        delay_ms = data.get("delay_ms", 0)
        retry_after = data.get("retry_after")
        method = data.get("method")
        if not isinstance(path_contains, str):
            raise FaultError("path_contains: expected a string")
        if status is not None and (not _is_int(status) or not 400 <= status <= 599):
            raise FaultError("status: expected an HTTP error status (400-599) or null")
        if not _is_int(times) or times < 1:
            raise FaultError("times: expected an integer of at least 1")
        if not _is_int(delay_ms) or not 0 <= delay_ms <= MAX_DELAY_MS:
            raise FaultError(f"delay_ms: expected an integer from 0 to {MAX_DELAY_MS}")
        if retry_after is not None and (not _is_number(retry_after) or retry_after < 0):
            raise FaultError("retry_after: expected a number of seconds or null")
        if method is not None and not isinstance(method, str):
            raise FaultError("method: expected an HTTP method or null")
        if status is None and delay_ms == 0:
            raise FaultError("a fault needs a status, a delay_ms, or both")
        return cls(
            path_contains=path_contains,
            status=status,
            times=times,
            delay_ms=delay_ms,
            retry_after=retry_after,
            method=method.upper() if method else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The fault in the admin API's JSON form."""
        return asdict(self)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path triggers the fault."""
        return self.path_contains in path and self.method in (None, method.upper())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
