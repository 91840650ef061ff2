"""A connection's state in words, for the console's pages and the CLI alike.

The store keeps four statuses (store/records.py, ``ConnectionStatus``); people read five
states, because an OAuth connection that was never installed is not broken, it waits for its
install, and says so differently from one whose grant GHL refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from store import ConnectionRecord, ConnectionStatus
from store.connections import NOT_INSTALLED_REASON


class State(StrEnum):
    ACTIVE = "active"
    PARKED = "parked"
    WAITING = "waiting"  # an OAuth connection not installed yet
    NEEDS_REAUTH = "needs re-authorization"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ConnectionState:
    """What a person reads about a connection: its state and why (empty when active)."""

    state: State
    reason: str

    @property
    def runs_events(self) -> bool:
        return self.state is State.ACTIVE


def status_words(connection: ConnectionRecord) -> str:
    """``needs_reauth: not installed yet``: the status and, when it says more, its reason."""
    if connection.status_reason == NOT_INSTALLED_REASON:
        return f"{connection.status}: not installed yet"
    if connection.status_reason:
        return f"{connection.status}: {connection.status_reason}"
    return connection.status


def connection_state(connection: ConnectionRecord) -> ConnectionState:
    """The state of ``connection`` with its reason, from its stored status."""
    reason = connection.status_reason or ""
    if connection.status == ConnectionStatus.ACTIVE:
        return ConnectionState(State.ACTIVE, "")
    if connection.status == ConnectionStatus.PARKED:
        return ConnectionState(State.PARKED, reason)
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        if reason == NOT_INSTALLED_REASON:
            return ConnectionState(State.WAITING, "waiting for its GHL install")
        return ConnectionState(State.NEEDS_REAUTH, reason)
    return ConnectionState(State.DISCONNECTED, reason)
