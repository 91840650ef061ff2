"""GHL's app webhooks over real HTTP: the sandbox GHL signs and delivers INSTALL and UNINSTALL
to our `/webhooks/ghl` (its `/_sandbox/app-webhooks`), the real worker does the work.

The system is test_oauth_install's (GHL OAuth configured, the sandbox's webhook key trusted).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.ghl import DEFAULT_LOCATION
from sandbox.ghl.seed import timestamp
from store import ConnectionRecord, GhlAppEventRecord
from tests.functional.harness import System
from tests.functional.test_oauth_install import (
    assert_never_logged,
    install_over_http,
    new_oauth_connection,
    oauth_bridge_fixture,  # noqa: F401 - the fixtures of that system, used here by their names
    oauth_system_fixture,  # noqa: F401
    secrets_of,
)


def deliver(bridge: System, event_type: str, **options: Any) -> tuple[int, dict[str, Any]]:
    """Have the sandbox GHL sign and POST an app webhook to us; our status and answer."""
    request = {
        "url": f"{bridge.web_url}/webhooks/ghl",
        "type": event_type,
        "location_id": DEFAULT_LOCATION,
        **options,
    }
    sent = bridge.http.post(f"{bridge.ghl_url}/_sandbox/app-webhooks", json=request)
    assert sent.status_code == 200, sent.text
    delivery = sent.json()
    answer: dict[str, Any] = json.loads(delivery["answer"])
    return delivery["status"], answer


def wait_processed(bridge: System, webhook_id: str, timeout: float = 30.0) -> GhlAppEventRecord:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        found = bridge.store.get_app_event(webhook_id)
        if found is not None and found.processed_at is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(
        f"app webhook {webhook_id} not processed\n--- worker log ---\n{bridge.worker.log_tail()}"
    )


def social_planner_calls(bridge: System) -> int:
    return sum(1 for entry in bridge.ghl_journal() if "/social-media-posting/" in entry["path"])


def installed_connection(bridge: System) -> ConnectionRecord:
    connection = new_oauth_connection(bridge)
    page = install_over_http(bridge, connection)
    assert page.status_code == 200, page.text
    found = bridge.store.get_connection(connection.id)
    assert found is not None
    assert found.status == "active"
    return found


def test_an_uninstall_disconnects_the_location_and_its_events_wait(
    oauth_bridge: System, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = installed_connection(oauth_bridge)
    webhook_id = f"wh-{secrets.token_hex(6)}"

    status, answer = deliver(oauth_bridge, "UNINSTALL", webhook_id=webhook_id)

    assert (status, answer) == (200, {"status": "accepted"})
    processed = wait_processed(oauth_bridge, webhook_id)
    after = oauth_bridge.store.get_connection(connection.id)
    assert after is not None
    assert after.status == "disconnected"
    assert after.status_reason is not None
    assert after.status_reason.startswith("GHL UNINSTALL at ")
    assert (after.ghl_token, after.ghl_refresh_token) == ("", None)
    assert processed.outcome is not None
    assert connection.id in processed.outcome
    # Its next event is accepted as usual and waits; GHL is not called for it.
    calls = social_planner_calls(oauth_bridge)
    event = oauth_bridge.send(connection, "post.published", {"post_id": "crm-after-uninstall"})
    assert event.status_code == 202, event.text
    waiting = oauth_bridge.wait_for(event.json()["event_id"], until=lambda e: e.status == "waiting")
    assert waiting.last_error is not None
    assert "disconnected" in waiting.last_error
    assert social_planner_calls(oauth_bridge) == calls
    # The same webhookId again: a duplicate, and nothing happens.
    status, answer = deliver(oauth_bridge, "UNINSTALL", webhook_id=webhook_id)
    assert (status, answer) == (200, {"status": "duplicate"})
    assert oauth_bridge.store.get_app_event(webhook_id) == processed
    assert oauth_bridge.store.get_connection(connection.id) == after
    assert_never_logged(oauth_bridge, caplog, secrets_of(connection))


def test_an_install_webhook_is_recorded_in_the_app_event_log(oauth_bridge: System) -> None:
    connection = new_oauth_connection(oauth_bridge, location_id=DEFAULT_LOCATION)
    webhook_id = f"wh-{secrets.token_hex(6)}"

    status, answer = deliver(oauth_bridge, "INSTALL", webhook_id=webhook_id)

    assert (status, answer) == (200, {"status": "accepted"})
    processed = wait_processed(oauth_bridge, webhook_id)
    assert processed.type == "INSTALL"
    assert processed.outcome is not None
    assert processed.outcome.startswith("INSTALL recorded; the install itself completes through")
    assert connection.id in processed.outcome
    assert oauth_bridge.store.get_connection(connection.id) == connection


@pytest.mark.parametrize("spoiled", ["tampered", "stale"])
def test_tampered_and_stale_deliveries_are_401_and_change_nothing(
    oauth_bridge: System, spoiled: str
) -> None:
    connection = installed_connection(oauth_bridge)
    webhook_id = f"wh-{secrets.token_hex(6)}"
    ten_minutes_ago = timestamp(datetime.now(UTC) - timedelta(minutes=10))
    options, message = {
        "tampered": ({"tamper": True}, "bad x-ghl-signature"),
        "stale": ({"timestamp": ten_minutes_ago}, "stale timestamp"),
    }[spoiled]

    status, answer = deliver(oauth_bridge, "UNINSTALL", webhook_id=webhook_id, **options)

    assert status == 401
    assert answer["error"] == "invalid_signature"
    assert answer["message"].startswith(message)
    assert oauth_bridge.store.get_app_event(webhook_id) is None
    assert oauth_bridge.store.get_connection(connection.id) == connection
