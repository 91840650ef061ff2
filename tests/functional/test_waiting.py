"""Events wait, they do not die: on the real worker, Redis, web app and sandbox servers.

A connection whose credentials GHL refuses is held (parked, or needs_reauth for an OAuth
install), the event that found it and every later one are accepted (202) and wait with the
reason, GHL is not called for them, and once the connection is usable again every one of them
runs, in the order they came, without waiting for beat or the sweep.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from celery import Celery

from sandbox.ghl import DEFAULT_TOKEN
from sandbox.ghl.oauth import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SCOPE_POSTS,
    SOCIAL_PLANNER_SCOPES,
)
from store import ConnectionRecord, EventRecord
from tests.functional.harness import System
from tests.functional.spec_check import assert_journal_conforms
from workers.celery_app import make_celery
from workers.release import activate_and_enqueue, enqueue_released

REDIRECT_URI = "https://bridge.example/oauth/ghl/callback"


@pytest.fixture
def celery(bridge: System) -> Iterator[Celery]:
    """A producer on the system's broker, as the CLI and the OAuth callback have one."""
    app = make_celery(bridge.settings)
    yield app
    app.close()


def send_all(bridge: System, connection: ConnectionRecord, posts: Sequence[str]) -> list[str]:
    """Send one post.published per post id; each is accepted as usual. Their event ids."""
    ids = []
    for post_id in posts:
        answer = bridge.send(connection, "post.published", {"post_id": post_id})
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued"
        ids.append(answer.json()["event_id"])
    return ids


def wait_all(bridge: System, event_ids: Sequence[str], status: str) -> list[EventRecord]:
    return [bridge.wait_for(event_id, until=lambda e: e.status == status) for event_id in event_ids]


def ghl_calls(bridge: System) -> int:
    return sum(1 for entry in bridge.ghl_journal() if "/social-media-posting/" in entry["path"])


def assert_ran_in_order(
    bridge: System, connection: ConnectionRecord, event_ids: Sequence[str]
) -> list[EventRecord]:
    """Every event done, each with one attempt, started in the order given (the worker runs one
    task at a time, in queue order), and each written back once."""
    done = [bridge.wait_for(event_id) for event_id in event_ids]
    assert [e.status for e in done] == ["done"] * len(done), [e.last_error for e in done]
    assert [e.attempts for e in done] == [1] * len(done)
    started = [e.started_at for e in done]
    assert None not in started
    assert started == sorted(started)  # type: ignore[type-var]
    written = [d["webhook_id"] for d in bridge.crm_deliveries(connection)]
    assert written == [f"{event_id}.post.tags_synced" for event_id in event_ids]
    return done


def test_a_parked_pit_connections_events_wait_and_resume_in_order_on_activate(
    bridge: System, celery: Celery
) -> None:
    connection = bridge.new_connection(ghl_token="pit-not-a-token-ghl-knows")

    [first] = send_all(bridge, connection, ["wait-1"])
    [found] = wait_all(bridge, [first], "waiting")

    parked = bridge.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"
    assert parked.status_reason is not None
    assert parked.status_reason.startswith("credentials refused: ghl: Invalid JWT (HTTP 401)")
    reason = f"connection is parked: {parked.status_reason}"
    assert (found.last_error, found.attempts, found.error_kind) == (reason, 0, None)
    calls = ghl_calls(bridge)

    # Later events are accepted as usual and wait without GHL being asked.
    later = send_all(bridge, connection, ["wait-2", "wait-3", "wait-4"])
    for event in wait_all(bridge, later, "waiting"):
        assert (event.last_error, event.attempts) == (reason, 0)
    assert ghl_calls(bridge) == calls
    assert bridge.crm_deliveries(connection) == []

    bridge.store.update_connection(connection.id, ghl_token=DEFAULT_TOKEN)
    released = activate_and_enqueue(bridge.store, celery, connection.id)

    assert [e.id for e in released] == [first, *later]
    assert_ran_in_order(bridge, connection, [first, *later])
    active = bridge.store.get_connection(connection.id)
    assert active is not None
    assert active.status == "active"


@pytest.mark.parametrize("hold", ["parked", "disconnected"])
def test_events_sent_while_a_connection_is_held_are_accepted_and_wait(
    bridge: System, celery: Celery, hold: str
) -> None:
    connection = bridge.new_connection()
    if hold == "parked":
        bridge.store.park_connection(connection.id, "held by an operator")
    else:
        bridge.store.disconnect_connection(connection.id, "disconnected by an operator")
    calls = ghl_calls(bridge)

    sent = send_all(bridge, connection, ["held-1", "held-2"])

    reason = (
        "connection is parked: held by an operator"
        if hold == "parked"
        else "connection is disconnected: disconnected by an operator"
    )
    for event in wait_all(bridge, sent, "waiting"):
        assert (event.last_error, event.attempts) == (reason, 0)
    assert ghl_calls(bridge) == calls
    if hold == "disconnected":
        # Its token was deleted: only a new one brings it back.
        with pytest.raises(ValueError, match="has no GHL token"):
            activate_and_enqueue(bridge.store, celery, connection.id)
        bridge.store.update_connection(connection.id, ghl_token=DEFAULT_TOKEN)

    released = activate_and_enqueue(bridge.store, celery, connection.id)

    assert [e.id for e in released] == sent
    assert_ran_in_order(bridge, connection, sent)


# -- an OAuth install that lacks a scope: needs_reauth, and a new install releases the events --


def install(bridge: System, scopes: Sequence[str]) -> dict[str, Any]:
    """The install at the sandbox GHL over HTTP: the chooselocation redirect, then the code."""
    chosen = bridge.http.get(
        f"{bridge.ghl_url}/oauth/chooselocation",
        params={
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": " ".join(scopes),
            "state": "functional",
            "location_id": "loc_demo",
            "approve": "1",
        },
    )
    assert chosen.status_code == 302, chosen.text
    code = parse_qs(urlsplit(chosen.headers["location"]).query)["code"][0]
    answer = bridge.http.post(
        f"{bridge.ghl_url}/oauth/token",
        data={
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "user_type": "Location",
            "redirect_uri": REDIRECT_URI,
        },
    )
    assert answer.status_code == 200, answer.text
    pair: dict[str, Any] = answer.json()
    return pair


def check_and_clear_journal(bridge: System) -> None:
    """Check the Social Planner exchanges so far against the official files, then empty the
    journal.

    The install's own exchanges with the token endpoint are left out: they are this test's
    stand-in for the OAuth callback, not the bridge's calls, and the bridge fixture's check at
    the end knows only the Social Planner files. (Every OAuth request and answer of the sandbox
    is checked against apps/oauth.json in tests/unit/sandbox/test_ghl_oauth.py.)
    """
    journal = bridge.ghl_journal()
    assert_journal_conforms(entry for entry in journal if not entry["path"].startswith("/oauth/"))
    bridge.http.delete(f"{bridge.ghl_url}/_sandbox/journal").raise_for_status()


def save_install(
    bridge: System, connection: ConnectionRecord, scopes: Sequence[str]
) -> list[EventRecord]:
    """What the OAuth callback stores after an install; the events it released."""
    pair = install(bridge, scopes)
    check_and_clear_journal(bridge)
    _, released = bridge.store.save_oauth_tokens(
        connection.id,
        access_token=pair["access_token"],
        refresh_token=pair["refresh_token"],
        expires_at=datetime.now(UTC) + timedelta(seconds=pair["expires_in"]),
        scopes=pair["scope"].split(),
        location_id=pair["locationId"],
        company_id=pair.get("companyId"),
        authorized=True,
    )
    return released


def test_an_oauth_install_without_a_scope_holds_the_events_until_it_is_installed_with_it(
    bridge: System, celery: Celery
) -> None:
    # Tokens that outlive the test: nothing here depends on a refresh.
    bridge.http.post(
        f"{bridge.ghl_url}/_sandbox/oauth/settings", json={"access_token_seconds": 86_400}
    ).raise_for_status()
    connection = bridge.new_connection(ghl_token="", ghl_auth="oauth")
    # A post.published naming a GHL post reads it: that needs socialplanner/post.readonly.
    save_install(bridge, connection, [s for s in SOCIAL_PLANNER_SCOPES if s != SCOPE_POSTS])
    answer = bridge.send(
        connection, "post.published", {"post_id": "scoped-1", "ghl_post_id": "post_demo_1"}
    )
    assert answer.status_code == 202
    [found] = wait_all(bridge, [answer.json()["event_id"]], "waiting")

    held = bridge.store.get_connection(connection.id)
    assert held is not None
    assert held.status == "needs_reauth"
    assert held.status_reason is not None
    assert held.status_reason.startswith(
        f"the token lacks scope {SCOPE_POSTS}; install the app again to grant it (ghl: "
    )
    assert found.last_error == f"connection is needs_reauth: {held.status_reason}"
    later = bridge.send(connection, "post.published", {"post_id": "scoped-2"})
    assert later.status_code == 202
    wait_all(bridge, [later.json()["event_id"]], "waiting")

    released = save_install(bridge, connection, SOCIAL_PLANNER_SCOPES)
    assert enqueue_released(celery, released) == 2

    ids = [found.id, later.json()["event_id"]]
    assert [e.id for e in released] == ids
    assert_ran_in_order(bridge, connection, ids)
