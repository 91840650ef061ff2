"""The GHL-authorization methods of the store (store/ghl_auth.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store import (
    ConnectionRecord,
    ConnectionStatus,
    EventStatus,
    GhlAuth,
    LocationMismatch,
    NotFound,
    Store,
)

EXPIRES = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
SCOPES = ("socialplanner/tag.readonly", "socialplanner/post.readonly")
PAYLOAD = {"type": "post.published", "timestamp": "2026-03-10T12:00:00+00:00", "data": {}}


def _oauth(store: Store, name: str = "agency-client", location_id: str = "") -> ConnectionRecord:
    return store.create_connection(
        name=name,
        location_id=location_id,
        ghl_token="",
        ghl_auth=GhlAuth.OAUTH,
        crm_url="http://crm.test/hooks/x",
    )


def _save(
    store: Store,
    connection_id: str,
    n: int,
    *,
    authorized: bool = False,
    location_id: str = "loc_1",
    expires_at: datetime = EXPIRES,
    **extra: Any,
) -> ConnectionRecord:
    saved, _ = store.save_oauth_tokens(
        connection_id,
        access_token=f"at-{n}",
        refresh_token=f"rt-{n}",
        expires_at=expires_at,
        scopes=SCOPES,
        location_id=location_id,
        company_id="comp_1",
        authorized=authorized,
        **extra,
    )
    return saved


def _status(store: Store, event_id: str) -> str:
    event = store.get_event(event_id)
    assert event is not None
    return event.status


# -- save_oauth_tokens ---------------------------------------------------------------------


def test_an_oauth_connection_waits_for_its_install(store: Store) -> None:
    created = _oauth(store)
    assert created.ghl_auth == GhlAuth.OAUTH
    assert created.status == ConnectionStatus.NEEDS_REAUTH
    assert created.status_reason is not None
    assert "install" in created.status_reason
    assert (created.ghl_token, created.ghl_refresh_token) == ("", None)
    assert created.token_generation == 0
    assert not created.has_ghl_token


def test_an_install_stores_the_pair_and_activates_the_connection(store: Store) -> None:
    created = _oauth(store)
    saved, released = store.save_oauth_tokens(
        created.id,
        access_token="at-1",
        refresh_token="rt-1",
        expires_at=EXPIRES,
        scopes=SCOPES,
        location_id="loc_1",
        company_id="comp_1",
        authorized=True,
    )

    assert released == []
    assert saved.status == ConnectionStatus.ACTIVE
    assert saved.status_reason is None
    assert (saved.ghl_token, saved.ghl_refresh_token) == ("at-1", "rt-1")
    assert (saved.location_id, saved.company_id) == ("loc_1", "comp_1")
    assert saved.token_expires_at == EXPIRES
    assert saved.scopes == SCOPES
    assert saved.token_generation == 1
    # An install is not a refresh.
    assert saved.last_refresh_at is None
    assert store.get_connection(created.id) == saved


def test_a_refresh_bumps_the_generation_and_keeps_the_status(store: Store) -> None:
    created = _oauth(store)
    _save(store, created.id, 1, authorized=True)
    store.mark_needs_reauth(created.id, "refused")
    moment = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    saved = _save(store, created.id, 2, now=moment)

    assert (saved.ghl_token, saved.ghl_refresh_token) == ("at-2", "rt-2")
    assert saved.token_generation == 2
    assert saved.last_refresh_at == moment
    # Only an install (authorized) brings a connection back.
    assert saved.status == ConnectionStatus.NEEDS_REAUTH


def test_an_install_releases_the_waiting_events_in_order(store: Store) -> None:
    created = _oauth(store)
    events = []
    for _n in range(3):
        event, _ = store.record_event(
            connection_id=created.id, type="post.published", payload=PAYLOAD
        )
        assert store.mark_waiting(event.id, "connection is needs_reauth") is not None
        events.append(event)
    assert [_status(store, e.id) for e in events] == ["waiting"] * 3

    _, released = store.save_oauth_tokens(
        created.id,
        access_token="at-1",
        refresh_token="rt-1",
        expires_at=EXPIRES,
        scopes=SCOPES,
        location_id="loc_1",
        company_id=None,
        authorized=True,
    )

    assert [e.id for e in released] == [e.id for e in events]
    assert {e.status for e in released} == {EventStatus.QUEUED}
    for event in events:
        stored = store.get_event(event.id)
        assert stored is not None
        assert stored.status == EventStatus.QUEUED


def test_a_refresh_releases_nothing(store: Store) -> None:
    created = _oauth(store)
    event, _ = store.record_event(connection_id=created.id, type="post.published", payload=PAYLOAD)
    store.mark_waiting(event.id, "not installed")

    _, released = store.save_oauth_tokens(
        created.id,
        access_token="at-1",
        refresh_token="rt-1",
        expires_at=EXPIRES,
        scopes=SCOPES,
        location_id="loc_1",
        company_id=None,
        authorized=False,
    )

    assert released == []
    stored = store.get_event(event.id)
    assert stored is not None
    assert stored.status == EventStatus.WAITING


def test_an_install_for_another_location_is_refused(store: Store) -> None:
    created = _oauth(store, location_id="loc_1")

    with pytest.raises(LocationMismatch, match="loc_1"):
        _save(store, created.id, 1, authorized=True, location_id="loc_2")

    unchanged = store.get_connection(created.id)
    assert unchanged is not None
    assert (unchanged.ghl_token, unchanged.token_generation) == ("", 0)
    assert unchanged.status == ConnectionStatus.NEEDS_REAUTH


def test_a_connection_without_a_location_takes_the_installed_one(store: Store) -> None:
    created = _oauth(store)
    saved = _save(store, created.id, 1, authorized=True, location_id="loc_9")
    assert saved.location_id == "loc_9"
    with pytest.raises(LocationMismatch):
        _save(store, created.id, 2, location_id="loc_1")


def test_tokens_of_a_pit_connection_are_refused(store: Store) -> None:
    pit = store.create_connection(
        name="pit", location_id="loc_1", ghl_token="pit-token", crm_url="http://crm.test/h"
    )
    with pytest.raises(ValueError, match="Private Integration"):
        _save(store, pit.id, 1, authorized=True)
    stored = store.get_connection(pit.id)
    assert stored is not None
    assert stored.ghl_token == "pit-token"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("access_token", "", "access_token"),
        ("refresh_token", "", "refresh_token"),
        ("location_id", "", "location_id"),
        ("expires_at", datetime(2026, 3, 11, 12, 0), "timezone-aware"),
    ],
)
def test_unusable_token_values_are_refused(
    store: Store, field: str, value: Any, message: str
) -> None:
    created = _oauth(store)
    values: dict[str, Any] = {
        "access_token": "at-1",
        "refresh_token": "rt-1",
        "expires_at": EXPIRES,
        "scopes": SCOPES,
        "location_id": "loc_1",
        "company_id": None,
        "authorized": True,
    }
    values[field] = value
    with pytest.raises(ValueError, match=message):
        store.save_oauth_tokens(created.id, **values)
    stored = store.get_connection(created.id)
    assert stored is not None
    assert stored.token_generation == 0


def test_saving_for_an_unknown_connection_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        _save(store, "con_0000000000000000", 1)


def test_concurrent_saves_each_get_their_own_generation(store: Store) -> None:
    """The row is locked for the read-modify-write: no two saves see the same generation."""
    created = _oauth(store)
    _save(store, created.id, 0, authorized=True)
    generations: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def save(n: int) -> None:
        try:
            start.wait()
            generations.append(_save(store, created.id, n).token_generation)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(generations) == list(range(2, 10))
    final = store.get_connection(created.id)
    assert final is not None
    assert final.token_generation == 9


# -- mark_needs_reauth, disconnect ---------------------------------------------------------


def test_mark_needs_reauth_sets_the_reason(store: Store) -> None:
    created = _oauth(store)
    saved = _save(store, created.id, 1, authorized=True)

    assert store.mark_needs_reauth(created.id, "invalid_grant", generation=saved.token_generation)

    marked = store.get_connection(created.id)
    assert marked is not None
    assert (marked.status, marked.status_reason) == ("needs_reauth", "invalid_grant")
    # The tokens stay: a refresh that lost a race may still find them newer.
    assert marked.token_generation == saved.token_generation


def test_mark_needs_reauth_refuses_when_tokens_were_saved_since(store: Store) -> None:
    created = _oauth(store)
    seen = _save(store, created.id, 1, authorized=True).token_generation
    _save(store, created.id, 2)  # another process refreshed

    assert store.mark_needs_reauth(created.id, "invalid_grant", generation=seen) is False

    unchanged = store.get_connection(created.id)
    assert unchanged is not None
    assert (unchanged.status, unchanged.status_reason) == ("active", None)


def test_mark_needs_reauth_without_a_generation_always_marks(store: Store) -> None:
    created = _oauth(store)
    _save(store, created.id, 1, authorized=True)
    _save(store, created.id, 2)
    assert store.mark_needs_reauth(created.id, "revoked") is True
    marked = store.get_connection(created.id)
    assert marked is not None
    assert marked.status == "needs_reauth"


def test_mark_needs_reauth_of_an_unknown_connection_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.mark_needs_reauth("con_0000000000000000", "gone")


def test_disconnect_deletes_the_tokens(store: Store) -> None:
    created = _oauth(store)
    saved = _save(store, created.id, 1, authorized=True)

    gone = store.disconnect_connection(created.id, "UNINSTALL from GHL")

    assert (gone.status, gone.status_reason) == ("disconnected", "UNINSTALL from GHL")
    assert (gone.ghl_token, gone.ghl_refresh_token) == ("", None)
    assert (gone.token_expires_at, gone.scopes) == (None, ())
    assert gone.token_generation == saved.token_generation + 1
    assert not gone.has_ghl_token
    assert store.get_connection(created.id) == gone
    # A refresh that read the tokens before the disconnect cannot mark it over it.
    assert not store.mark_needs_reauth(created.id, "x", generation=saved.token_generation)


# -- oauth_refresh_due, oauth_connections ---------------------------------------------------


def test_refresh_due_lists_active_oauth_connections_expiring_before(store: Store) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    soon = _oauth(store, "soon")
    _save(store, soon.id, 1, authorized=True, expires_at=now + timedelta(minutes=5))
    sooner = _oauth(store, "sooner")
    _save(store, sooner.id, 2, authorized=True, expires_at=now - timedelta(minutes=1))
    later = _oauth(store, "later")
    _save(store, later.id, 3, authorized=True, expires_at=now + timedelta(hours=20))
    refused = _oauth(store, "refused")
    _save(store, refused.id, 4, authorized=True, expires_at=now)
    store.mark_needs_reauth(refused.id, "invalid_grant")
    gone = _oauth(store, "gone")
    _save(store, gone.id, 5, authorized=True, expires_at=now)
    store.disconnect_connection(gone.id, "disconnected")
    _oauth(store, "never-installed")
    store.create_connection(
        name="pit", location_id="loc_1", ghl_token="pit-token", crm_url="http://crm.test/h"
    )

    due = store.oauth_refresh_due(now + timedelta(minutes=10))

    assert due == [sooner.id, soon.id]


def test_oauth_connections_by_location_or_agency(store: Store) -> None:
    first = _oauth(store, "b-first")
    _save(store, first.id, 1, authorized=True, location_id="loc_1")
    second = _oauth(store, "a-second")
    _save(store, second.id, 2, authorized=True, location_id="loc_2")
    _oauth(store, "c-not-installed")

    assert [c.id for c in store.oauth_connections(location_id="loc_1")] == [first.id]
    # By name.
    assert [c.id for c in store.oauth_connections(company_id="comp_1")] == [second.id, first.id]
    assert store.oauth_connections(location_id="loc_1", company_id="comp_2") == []
    with pytest.raises(ValueError, match="location_id or company_id"):
        store.oauth_connections()


# -- agency grants -------------------------------------------------------------------------


def test_an_agency_grant_is_saved_replaced_and_deleted(store: Store) -> None:
    assert store.get_agency("comp_1") is None

    first = store.save_agency(
        "comp_1",
        access_token="agency-at-1",
        refresh_token="agency-rt-1",
        expires_at=EXPIRES,
        scopes=("oauth.write",),
        approved_locations=("loc_1", "loc_2"),
    )
    assert (first.access_token, first.refresh_token) == ("agency-at-1", "agency-rt-1")
    assert first.approved_locations == ("loc_1", "loc_2")
    assert first.scopes == ("oauth.write",)
    assert store.get_agency("comp_1") == first
    assert "agency-at-1" not in repr(first)

    second = store.save_agency(
        "comp_1",
        access_token="agency-at-2",
        refresh_token="agency-rt-2",
        expires_at=EXPIRES + timedelta(days=1),
        scopes=("oauth.write", "oauth.readonly"),
        approved_locations=("loc_1",),
    )
    assert second.created_at == first.created_at
    assert (second.access_token, second.refresh_token) == ("agency-at-2", "agency-rt-2")
    assert second.token_expires_at == EXPIRES + timedelta(days=1)
    assert second.approved_locations == ("loc_1",)

    assert store.delete_agency("comp_1") is True
    assert store.get_agency("comp_1") is None
    assert store.delete_agency("comp_1") is False


def test_an_agency_grant_without_tokens_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="refresh_token"):
        store.save_agency(
            "comp_1",
            access_token="agency-at",
            refresh_token="",
            expires_at=EXPIRES,
            scopes=(),
            approved_locations=(),
        )
    assert store.get_agency("comp_1") is None


# -- install states ------------------------------------------------------------------------


def test_an_install_state_is_single_use(store: Store) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert store.use_oauth_state("nonce-1", expires_at=later) is True
    assert store.use_oauth_state("nonce-1", expires_at=later) is False
    assert store.use_oauth_state("nonce-2", expires_at=later) is True


def test_states_past_their_expiry_are_purged(store: Store) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert store.use_oauth_state("nonce-old", expires_at=past) is True
    # Purged by the next use: the state itself has expired, its signature check refuses it.
    assert store.use_oauth_state("nonce-new", expires_at=past + timedelta(minutes=20)) is True
    assert store.use_oauth_state("nonce-old", expires_at=past) is True


def test_a_state_used_by_many_at_once_passes_once(store: Store) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    results: list[bool] = []
    start = threading.Barrier(6)

    def use() -> None:
        start.wait()
        results.append(store.use_oauth_state("nonce-race", expires_at=later))

    threads = [threading.Thread(target=use) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 5 + [True]


# -- GHL app webhooks ----------------------------------------------------------------------


def test_an_app_webhook_is_recorded_once(store: Store) -> None:
    payload = {"type": "INSTALL", "locationId": "loc_1", "companyId": "comp_1"}
    first, created = store.record_app_event(
        "wh-1", type="INSTALL", location_id="loc_1", company_id="comp_1", payload=payload
    )
    assert created is True
    assert (first.webhook_id, first.type, first.payload) == ("wh-1", "INSTALL", payload)
    assert (first.processed_at, first.outcome) == (None, None)

    again, created = store.record_app_event(
        "wh-1", type="INSTALL", location_id="loc_1", company_id="comp_1", payload={}
    )
    assert created is False
    assert again == first

    finished = store.finish_app_event("wh-1", "recorded")
    assert finished.outcome == "recorded"
    assert finished.processed_at is not None
    assert store.get_app_event("wh-1") == finished


def test_app_webhooks_are_listed_newest_first(store: Store) -> None:
    for n in range(3):
        store.record_app_event(
            f"wh-{n}", type="UNINSTALL", location_id=f"loc_{n}", company_id=None, payload={}
        )
    assert [e.webhook_id for e in store.list_app_events()] == ["wh-2", "wh-1", "wh-0"]
    assert [e.webhook_id for e in store.list_app_events(limit=1)] == ["wh-2"]


def test_finishing_an_unknown_app_webhook_is_not_found(store: Store) -> None:
    assert store.get_app_event("wh-none") is None
    with pytest.raises(NotFound):
        store.finish_app_event("wh-none", "x")
