"""What GHL's INSTALL and UNINSTALL change, on a real store (SQLite, and PostgreSQL when set).

The payloads are the sandbox GHL's (`sandbox.ghl.app_webhooks`), in GHL's field names; the
task runs through a real Celery app (locally, without a broker) where the task itself is meant.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
from celery import Celery

from sandbox.ghl.app_webhooks import AppWebhook
from schemas.ghl_app import load_app_event
from store import ConnectionRecord, Store
from tests.brokerutil import queued_tasks
from tests.unit.workers.conftest import Bridge
from workers.app_webhooks import (
    TASK_NAME,
    enqueue_app_webhook,
    process_app_webhook,
    record_app_webhook,
)
from workers.dispatch import EnqueueError

COMPANY = "comp_agency"
SENT_AT = "2026-03-10T12:00:00.000Z"


def payload(event_type: str, location_id: str | None = "loc_a", **fields: Any) -> dict[str, Any]:
    """An app webhook as GHL sends it; ``location_id=None``: an agency-level one."""
    body = AppWebhook(
        url="https://bridge.example/webhooks/ghl",
        type=event_type,
        location_id=location_id or "unused",
        company_id=COMPANY,
        timestamp=SENT_AT,
        webhook_id=fields.pop("webhook_id", f"wh-{secrets.token_hex(6)}"),
    ).payload()
    if location_id is None:
        del body["locationId"]
    return {**body, **fields}


def installed(
    store: Store, name: str, location_id: str, company_id: str = COMPANY
) -> ConnectionRecord:
    """An OAuth connection installed for `location_id`: active, with a token pair."""
    connection = store.create_connection(
        name=name,
        location_id=location_id,
        ghl_token="",
        ghl_auth="oauth",
        crm_url="http://crm.example/hooks",
    )
    saved, _ = store.save_oauth_tokens(
        connection.id,
        access_token=f"at-{secrets.token_hex(8)}",
        refresh_token=f"rt-{secrets.token_hex(8)}",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=24),
        scopes=["socialplanner/tag.readonly"],
        location_id=location_id,
        company_id=company_id,
        authorized=True,
    )
    return saved


def current(store: Store, connection: ConnectionRecord) -> ConnectionRecord:
    found = store.get_connection(connection.id)
    assert found is not None
    return found


# --- UNINSTALL ---------------------------------------------------------------------------------


def test_an_uninstall_disconnects_every_oauth_connection_of_the_location(store: Store) -> None:
    first, second = installed(store, "a-1", "loc_a"), installed(store, "a-2", "loc_a")
    elsewhere = installed(store, "b", "loc_b")
    pit = store.create_connection(
        name="pit-a", location_id="loc_a", ghl_token="pit-token", crm_url="http://crm.example/h"
    )
    event = payload("UNINSTALL", "loc_a")

    outcome = process_app_webhook(store, event)

    for connection in (first, second):
        after = current(store, connection)
        assert after.status == "disconnected"
        assert after.status_reason == "GHL UNINSTALL at 2026-03-10T12:00:00+00:00"
        assert after.ghl_token == ""
        assert after.ghl_refresh_token is None
        assert after.token_expires_at is None
        assert after.scopes == ()
        assert connection.name in outcome
    assert current(store, elsewhere).status == "active"
    assert current(store, elsewhere).ghl_token == elsewhere.ghl_token
    assert current(store, pit).status == "active"
    assert current(store, pit).ghl_token == "pit-token"
    recorded = store.get_app_event(event["webhookId"])
    assert recorded is not None
    assert recorded.type == "UNINSTALL"
    assert recorded.location_id == "loc_a"
    assert recorded.payload == event
    assert recorded.processed_at is not None
    assert recorded.outcome == outcome
    assert outcome.startswith("UNINSTALL of location loc_a: disconnected a-1")


def test_an_uninstall_run_twice_changes_nothing_the_second_time(store: Store) -> None:
    connection = installed(store, "a", "loc_a")
    event = payload("UNINSTALL", "loc_a")
    first = process_app_webhook(store, event)
    after_first = current(store, connection)
    finished = store.get_app_event(event["webhookId"])

    second = process_app_webhook(store, event)

    assert second == first
    assert current(store, connection) == after_first
    assert store.get_app_event(event["webhookId"]) == finished


def test_a_second_uninstall_of_a_disconnected_location_says_so(store: Store) -> None:
    connection = installed(store, "a", "loc_a")
    process_app_webhook(store, payload("UNINSTALL", "loc_a"))
    after_first = current(store, connection)

    outcome = process_app_webhook(store, payload("UNINSTALL", "loc_a"))

    assert current(store, connection) == after_first
    assert f"a ({connection.id}) had no tokens already" in outcome


def test_an_agency_uninstall_deletes_its_grant_and_disconnects_its_connections(
    store: Store,
) -> None:
    store.save_agency(
        COMPANY,
        access_token="agency-at",
        refresh_token="agency-rt",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=24),
        scopes=["oauth.write"],
        approved_locations=["loc_a", "loc_b"],
    )
    ours = [installed(store, "a", "loc_a"), installed(store, "b", "loc_b")]
    other_agency = installed(store, "c", "loc_c", company_id="comp_other")
    event = payload("UNINSTALL", None)

    outcome = process_app_webhook(store, event)

    assert store.get_agency(COMPANY) is None
    for connection in ours:
        assert current(store, connection).status == "disconnected"
        assert current(store, connection).ghl_token == ""
    assert current(store, other_agency).status == "active"
    assert outcome.startswith(f"UNINSTALL of company {COMPANY}: agency grant of {COMPANY} deleted")
    recorded = store.get_app_event(event["webhookId"])
    assert recorded is not None
    assert recorded.location_id is None
    assert recorded.company_id == COMPANY


def test_an_uninstall_of_a_location_without_connections_is_recorded(store: Store) -> None:
    outcome = process_app_webhook(store, payload("UNINSTALL", "loc_nobody"))

    assert outcome == "UNINSTALL of location loc_nobody: no OAuth connection of location loc_nobody"


def test_a_connection_installed_again_after_the_uninstall_came_stays_connected(
    store: Store,
) -> None:
    # The UNINSTALL waited on the queue while the user installed the app again: the new grant
    # is not the one GHL took away.
    connection = installed(store, "a", "loc_a")
    event = payload("UNINSTALL", "loc_a")
    record_app_webhook(store, load_app_event(event))
    reinstalled = installed_again(store, connection)

    outcome = process_app_webhook(store, event)

    assert current(store, connection).status == "active"
    assert current(store, connection).ghl_token == reinstalled.ghl_token
    assert "left connected: installed again after this UNINSTALL came" in outcome


def test_an_inactive_connection_changed_after_the_uninstall_came_is_disconnected(
    store: Store,
) -> None:
    # A refresh refused since the uninstall made it needs_reauth: that is no new install.
    connection = installed(store, "a", "loc_a")
    event = payload("UNINSTALL", "loc_a")
    record_app_webhook(store, load_app_event(event))
    assert store.mark_needs_reauth(connection.id, "refresh refused: invalid_grant")

    process_app_webhook(store, event)

    assert current(store, connection).status == "disconnected"
    assert current(store, connection).ghl_token == ""


def installed_again(store: Store, connection: ConnectionRecord) -> ConnectionRecord:
    saved, _ = store.save_oauth_tokens(
        connection.id,
        access_token="at-new-install",
        refresh_token="rt-new-install",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=24),
        scopes=["socialplanner/tag.readonly"],
        location_id=connection.location_id,
        company_id=COMPANY,
        authorized=True,
    )
    return saved


# --- INSTALL and other types ----------------------------------------------------------------------


def test_an_install_is_recorded_and_names_the_locations_connections(store: Store) -> None:
    connection = store.create_connection(
        name="a", location_id="loc_a", ghl_token="", ghl_auth="oauth", crm_url="http://crm/h"
    )
    event = payload("INSTALL", "loc_a")

    outcome = process_app_webhook(store, event)

    assert current(store, connection) == connection  # the callback does the install
    assert outcome == (
        "INSTALL recorded; the install itself completes through /oauth/ghl/callback. "
        f"location loc_a: a ({connection.id}, needs_reauth)"
    )
    recorded = store.get_app_event(event["webhookId"])
    assert recorded is not None
    assert recorded.type == "INSTALL"
    assert recorded.outcome == outcome


def test_an_install_of_a_location_without_a_connection_says_how_to_add_one(store: Store) -> None:
    outcome = process_app_webhook(store, payload("INSTALL", "loc_new"))

    assert "location loc_new has no OAuth connection" in outcome
    assert "socialbridge connections add --auth oauth --location-id loc_new" in outcome


def test_a_bulk_install_names_each_location(store: Store) -> None:
    installed(store, "b", "loc_b")
    event = payload("INSTALL", None, locationIds=["loc_b", "loc_c"])

    outcome = process_app_webhook(store, event)

    assert "location loc_b: b (" in outcome
    assert "location loc_c has no OAuth connection" in outcome


def test_another_type_is_recorded_as_ignored(store: Store) -> None:
    event = {
        "type": "LocationUpdate",
        "webhookId": "wh-other",
        "timestamp": SENT_AT,
        "locationId": "loc_a",
    }

    outcome = process_app_webhook(store, event)

    assert outcome == "ignored: socialbridge acts on INSTALL and UNINSTALL only"
    recorded = store.get_app_event("wh-other")
    assert recorded is not None
    assert recorded.outcome == outcome


def test_a_payload_the_schema_refuses_changes_nothing(store: Store) -> None:
    connection = installed(store, "a", "loc_a")

    outcome = process_app_webhook(store, {"type": "UNINSTALL", "locationId": "loc_a"})

    assert outcome.startswith("invalid: ")
    assert current(store, connection).status == "active"
    assert store.list_app_events() == []


# --- the queue ----------------------------------------------------------------------------------


def test_the_task_is_registered_and_does_the_work(bridge: Bridge, celery: Celery) -> None:
    connection = installed(bridge.store, "a", "loc_a")
    event = payload("UNINSTALL", "loc_a")

    result = celery.tasks[TASK_NAME].apply(args=[event])

    assert result.successful(), result.traceback
    assert result.result.startswith("UNINSTALL of location loc_a: disconnected a")
    assert current(bridge.store, connection).status == "disconnected"


def test_enqueue_sends_the_payload_as_ghl_sent_it(celery: Celery, redis_url: str) -> None:
    event = load_app_event(payload("UNINSTALL", "loc_a", webhook_id="wh-1"))

    task_id = enqueue_app_webhook(celery, event)

    [task] = queued_tasks(redis_url)
    assert task.name == TASK_NAME
    assert task.id == task_id
    assert re.fullmatch(r"ghlapp-wh-1-[0-9a-f]{8}", task_id)
    assert task.args == [event.raw]


def test_enqueue_without_redis_raises_enqueue_error(celery_without_redis: Celery) -> None:
    event = load_app_event(payload("UNINSTALL", "loc_a"))

    with pytest.raises(EnqueueError, match="could not enqueue app webhook"):
        enqueue_app_webhook(celery_without_redis, event)
