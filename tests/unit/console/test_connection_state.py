"""console.connection_state: the five states people read, from the four stored statuses."""

from __future__ import annotations

from console.connection_state import State, connection_state, status_words
from store import Store
from store.connections import NOT_INSTALLED_REASON


def test_states_and_reasons(store: Store) -> None:
    active = store.create_connection(name="a", location_id="loc_a", ghl_token="t")
    assert connection_state(active).state is State.ACTIVE
    assert connection_state(active).reason == ""
    assert connection_state(active).runs_events

    store.park_connection(active.id, "GHL refused the token")
    parked = store.get_connection(active.id)
    assert parked is not None
    assert (connection_state(parked).state, connection_state(parked).reason) == (
        State.PARKED,
        "GHL refused the token",
    )
    assert not connection_state(parked).runs_events

    store.mark_needs_reauth(active.id, "the refresh token was refused")
    reauth = store.get_connection(active.id)
    assert reauth is not None
    assert connection_state(reauth).state is State.NEEDS_REAUTH
    assert connection_state(reauth).reason == "the refresh token was refused"

    gone = store.disconnect_connection(active.id, "uninstalled at GHL")
    assert (connection_state(gone).state, connection_state(gone).reason) == (
        State.DISCONNECTED,
        "uninstalled at GHL",
    )


def test_not_installed_reads_as_waiting_and_in_the_cli_words(store: Store) -> None:
    oauth = store.create_connection(name="o", location_id="", ghl_token="", ghl_auth="oauth")

    assert oauth.status_reason == NOT_INSTALLED_REASON
    assert connection_state(oauth).state is State.WAITING
    assert status_words(oauth) == "needs_reauth: not installed yet"
