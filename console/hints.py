"""What to do about a connection that is not active, in words, for every command that meets one.

A connection that is not active holds its events ``waiting`` (store/records.py,
``ConnectionStatus``), and each status has one way back:

    parked                       fix the cause, then `connections activate NAME`
    needs_reauth, disconnected   OAuth: open the install URL (socialbridge.urls.install_url)
    (OAuth)
    disconnected (PIT)           `connections update NAME --ghl-token TOKEN`, then `activate`

`connections` (activate, disconnect, update, check), `demo send`, `stats sync` and the
console's connections pages all say it,
so the words live here once. Each hint is a sentence about the connection ("it"), without a
token or a secret: only the connection's name, location and public URLs.
"""

from __future__ import annotations

from console.connection_state import status_words
from socialbridge import urls
from socialbridge.config import Settings
from store import ConnectionRecord, ConnectionStatus, GhlAuth

__all__ = ["reconnect_hint", "resume_hint", "status_words", "waiting_hint"]


def reconnect_hint(connection: ConnectionRecord, settings: Settings) -> str:
    """How a connection gets a usable GHL authorization again: the install URL for OAuth (not
    installed, a grant GHL refused for good, or tokens deleted), a new Private Integration
    token and `activate` for a PIT connection without a token."""
    if connection.ghl_auth == GhlAuth.OAUTH:
        return (
            f"authorize it by opening {urls.install_url(settings, connection.id)} "
            f"(choose {connection.location_id or 'the location'} and approve); its waiting "
            "events run once the install completes"
        )
    return (
        f"reconnect it with: socialbridge connections update {connection.name} --ghl-token "
        f"TOKEN, then: socialbridge connections activate {connection.name} (its waiting events "
        "run then)"
    )


def resume_hint(connection: ConnectionRecord, settings: Settings) -> str:
    """What brings a connection that is not active back, after an update."""
    if not connection.has_ghl_token:
        return reconnect_hint(connection, settings)
    if connection.ghl_auth == GhlAuth.OAUTH and connection.status != ConnectionStatus.PARKED:
        return "authorize it again at: " + urls.install_url(settings, connection.id)
    if connection.status == ConnectionStatus.PARKED:
        return f"un-park it with: socialbridge connections activate {connection.name}"
    return (
        f"check the new token with: socialbridge connections check {connection.name}, then "
        f"resume it and its waiting events with: socialbridge connections activate "
        f"{connection.name}"
    )


def waiting_hint(connection: ConnectionRecord, settings: Settings) -> str:
    """Why an event of ``connection`` waits and what makes it run, as one sentence.

    A waiting event does not move until someone acts on its connection, so `demo send` and
    `stats sync` end on it with this. The event's own ``last_error`` says why the connection
    was held; this says what to do about it, by status.
    """
    name = connection.name
    if connection.is_active:
        # Activated between the event's wait and this read: the activation queued it.
        return f"{name} is active again, so the event went back on the queue and runs next"
    prefix = f"the event runs once {name} is active again: "
    if not connection.has_ghl_token or (
        connection.ghl_auth == GhlAuth.OAUTH and connection.status != ConnectionStatus.PARKED
    ):
        # Only a new authorization helps: its grant is gone, was refused, or never came.
        return prefix + reconnect_hint(connection, settings)
    if connection.status == ConnectionStatus.PARKED:
        return (
            f"{prefix}fix the cause (socialbridge connections check {name} tries GHL and the "
            f"CRM), then: socialbridge connections activate {name} (its waiting events run then)"
        )
    # A Private Integration connection given a new token since it was disconnected.
    return prefix + resume_hint(connection, settings)
