"""The queue of injected faults every sandbox keeps: each used by its next `times` matches.

A fault is any frozen dataclass with a ``times`` field; which requests (or SMTP commands) it
waits for is the caller's predicate. Faults are taken in the order they were queued. Thread-
safe: HTTP threads queue faults while the serving threads (or the SMTP loop) take them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar, cast


class Counted(Protocol):
    @property
    def times(self) -> int: ...


F = TypeVar("F", bound=Counted)


def _any(_: Any) -> bool:
    return True


class FaultQueue(Generic[F]):
    """Pending faults of one sandbox."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[F] = []

    def add(self, fault: F) -> list[F]:
        """Queue a fault behind those pending; return them all."""
        with self._lock:
            self._faults.append(fault)
            return list(self._faults)

    def pending(self) -> list[F]:
        """The faults still queued, with the uses they have left."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> int:
        """Drop every pending fault; return how many there were."""
        with self._lock:
            dropped = len(self._faults)
            self._faults.clear()
            return dropped

    def take(self, matches: Callable[[F], bool] = _any) -> F | None:
        """Use one turn of the oldest fault that ``matches``, and return it (None: behave)."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not matches(fault):
                    continue
                if fault.times <= 1:
                    del self._faults[index]
                else:
                    # Every fault is a frozen dataclass (see the module's docstring).
                    self._faults[index] = cast(F, replace(cast(Any, fault), times=fault.times - 1))
                return fault
            return None
