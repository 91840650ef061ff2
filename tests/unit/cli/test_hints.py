"""cli/hints.py: what a command says to do about a connection that is not active, by status.

Plain functions of a connection record and the settings; the commands that print them (demo
send, stats sync, connections …) are tested with them in their own modules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cli.hints import reconnect_hint, resume_hint, status_words, waiting_hint
from socialbridge.config import Settings
from store import ConnectionRecord
from store.connections import NOT_INSTALLED_REASON

PUBLIC_URL = "https://bridge.example"
SETTINGS = Settings.from_mapping({"SECRET_KEY": "hints-test-key", "PUBLIC_URL": PUBLIC_URL})
INSTALL_URL = f"{PUBLIC_URL}/oauth/ghl/start?connection=con_0123456789abcdef"
NOW = dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)
SECRET_TOKEN = "pit-not-to-be-printed"  # a test value, checked never to show


def connection(**fields: Any) -> ConnectionRecord:
    values: dict[str, Any] = {
        "id": "con_0123456789abcdef",
        "name": "acme",
        "location_id": "loc_123",
        "crm_kind": "webhook",
        "crm_url": "https://crm.example/hooks/acme",
        "ghl_token": SECRET_TOKEN,
        "crm_settings": {},
        "webhook_secrets": (),
        "stats_interval_seconds": 86400,
        "status": "active",
        "status_reason": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return ConnectionRecord(**values)


PREFIX = "the event runs once acme is active again: "
ACTIVATE = (
    "fix the cause (socialbridge connections check acme tries GHL and the CRM), then: "
    "socialbridge connections activate acme (its waiting events run then)"
)
INSTALL = (
    f"authorize it by opening {INSTALL_URL} (choose loc_123 and approve); its waiting events "
    "run once the install completes"
)
NEW_TOKEN = (
    "reconnect it with: socialbridge connections update acme --ghl-token TOKEN, then: "
    "socialbridge connections activate acme (its waiting events run then)"
)


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        # A Private Integration token GHL refused, or the CRM refusing its credentials.
        ({"status": "parked", "status_reason": "credentials refused: ghl: …"}, ACTIVATE),
        # An OAuth connection parked by its CRM: no install fixes the CRM's credentials.
        ({"status": "parked", "ghl_auth": "oauth"}, ACTIVATE),
        # An OAuth grant refused for good: the tokens are still stored but no longer work.
        ({"status": "needs_reauth", "ghl_auth": "oauth"}, INSTALL),
        # Never installed, or uninstalled / disconnected: no token at all.
        ({"status": "needs_reauth", "ghl_auth": "oauth", "ghl_token": ""}, INSTALL),
        ({"status": "disconnected", "ghl_auth": "oauth", "ghl_token": ""}, INSTALL),
        ({"status": "disconnected", "ghl_token": ""}, NEW_TOKEN),
        # Given a new Private Integration token since the disconnect: check it, then activate.
        (
            {"status": "disconnected"},
            "check the new token with: socialbridge connections check acme, then resume it "
            "and its waiting events with: socialbridge connections activate acme",
        ),
    ],
)
def test_waiting_hint_names_the_one_fix_for_each_status(fields: dict[str, Any], hint: str) -> None:
    shown = waiting_hint(connection(**fields), SETTINGS)

    assert shown == PREFIX + hint
    assert SECRET_TOKEN not in shown


def test_waiting_hint_of_an_oauth_connection_without_a_location_lets_the_installer_choose() -> None:
    record = connection(status="needs_reauth", ghl_auth="oauth", ghl_token="", location_id="")

    assert "(choose the location and approve)" in waiting_hint(record, SETTINGS)


def test_waiting_hint_of_a_connection_activated_meanwhile_says_the_event_runs() -> None:
    assert waiting_hint(connection(), SETTINGS) == (
        "acme is active again, so the event went back on the queue and runs next"
    )


def test_the_hints_connections_prints_read_as_before() -> None:
    # Moved here from cli/connections.py unchanged; its tests hold the exact lines.
    disconnected = connection(status="disconnected", ghl_token="")
    parked = connection(status="parked")

    assert reconnect_hint(disconnected, SETTINGS) == NEW_TOKEN
    assert resume_hint(parked, SETTINGS) == (
        "un-park it with: socialbridge connections activate acme"
    )
    assert resume_hint(connection(status="needs_reauth", ghl_auth="oauth"), SETTINGS) == (
        f"authorize it again at: {INSTALL_URL}"
    )
    assert status_words(parked) == "parked"
    assert status_words(connection(status="needs_reauth", status_reason=NOT_INSTALLED_REASON)) == (
        "needs_reauth: not installed yet"
    )
    assert status_words(connection(status="parked", status_reason="why")) == "parked: why"
