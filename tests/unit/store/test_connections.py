from __future__ import annotations

import base64
import dataclasses
import re
import threading
from datetime import UTC, date
from typing import Any

import pytest
from sqlalchemy import text

from store import (
    ConnectionRecord,
    ConnectionStatus,
    DuplicateName,
    NotFound,
    SecretUnreadable,
    Store,
)
from store.engine import make_engine

Database = tuple[str, dict[str, Any]]

INBOUND = "whsec_" + base64.b64encode(b"i" * 24).decode()
OUTBOUND = "whsec_" + base64.b64encode(b"o" * 24).decode()


def _add(store: Store, name: str, **extra: Any) -> ConnectionRecord:
    return store.create_connection(
        name=name,
        location_id=f"loc_{name}",
        ghl_token=f"token-{name}",
        crm_url="http://crm.test",
        **extra,
    )


def test_create_connection_generates_ids_and_secrets(store: Store) -> None:
    created = store.create_connection(
        name="acme", location_id="loc_1", ghl_token="ghl-token", crm_url="http://crm.test/h"
    )
    assert re.fullmatch(r"con_[0-9a-f]{16}", created.id)
    assert created.ghl_token == "ghl-token"
    assert created.crm_secret.startswith("whsec_")
    assert len(created.webhook_secrets) == 1
    assert created.webhook_secrets[0].startswith("whsec_")
    assert created.webhook_secrets[0] != created.crm_secret
    assert (created.crm_kind, created.stats_interval_seconds) == ("webhook", 86400)
    assert created.status == ConnectionStatus.ACTIVE
    assert created.is_active
    assert created.status_reason is None
    assert created.created_at.tzinfo == UTC
    assert created.created_at == created.updated_at
    assert store.get_connection(created.id) == created


def test_given_secrets_and_options_are_kept(store: Store) -> None:
    created = store.create_connection(
        name="acme",
        location_id="loc_1",
        ghl_token="ghl-token",
        crm_url="http://crm.test/h",
        crm_secret=OUTBOUND,
        webhook_secret=INBOUND,
        stats_interval_seconds=3600,
    )
    loaded = store.get_connection(created.id)
    assert loaded is not None
    assert (loaded.crm_secret, loaded.webhook_secrets) == (OUTBOUND, (INBOUND,))
    assert loaded.stats_interval_seconds == 3600


def test_a_crm_secret_of_another_kind_of_crm_is_not_a_webhook_secret(store: Store) -> None:
    created = _add(store, "office", crm_kind="smartoffice", crm_secret="a password")
    assert created.crm_secret == "a password"


# Each bad value, and the start of the message that names its field.
BAD_VALUES = [
    pytest.param({"name": " "}, "name: must not be empty", id="blank-name"),
    pytest.param(
        {"name": "con_0123456789abcdef"},
        "name: 'con_0123456789abcdef' looks like a connection id (con_…)",
        id="id-like-name",
    ),
    pytest.param({"name": "CON_acme"}, "name: 'CON_acme' looks like", id="id-like-upper"),
    pytest.param({"name": " Con_x"}, "name: ' Con_x' looks like", id="id-like-spaced"),
    pytest.param({"name": "a" * 201}, "name: at most 200 characters, got 201", id="long-name"),
    pytest.param(
        {"name": "ac\x00me"}, "name: control character '\\x00' at position 2", id="nul-in-name"
    ),
    pytest.param(
        {"name": "ac\udcffme"}, "name: not valid text: a lone surrogate", id="surrogate-in-name"
    ),
    pytest.param(
        {"location_id": "l" * 101}, "location_id: at most 100 characters", id="long-location"
    ),
    pytest.param({"location_id": ""}, "location_id: must not be empty", id="empty-location"),
    pytest.param({"ghl_token": "  "}, "ghl_token: must not be empty", id="blank-token"),
    pytest.param({"ghl_token": "pit-\ud800"}, "ghl_token: not valid text", id="surrogate-token"),
    pytest.param(
        {"crm_url": "http://crm.test/\n"}, "crm_url: control character '\\n'", id="newline-in-url"
    ),
    pytest.param({"crm_secret": "plain"}, "a webhook secret starts with", id="crm_secret"),
    pytest.param({"webhook_secret": "plain"}, "a webhook secret starts with", id="webhook_secret"),
    pytest.param(
        {"stats_interval_seconds": 0},
        "stats_interval_seconds: 0 is out of range: from 300 (5 minutes) to 2678400 (31 days)",
        id="zero",
    ),
    pytest.param(
        {"stats_interval_seconds": 299}, "stats_interval_seconds: 299 is out of range", id="below"
    ),
    pytest.param(
        {"stats_interval_seconds": 2_678_401},
        "stats_interval_seconds: 2678401 is out of range",
        id="above",
    ),
    pytest.param(
        {"stats_interval_seconds": 9_223_372_036_854_775_807},
        "stats_interval_seconds: 9223372036854775807 is out of range",
        id="int64-max",
    ),
    pytest.param({"stats_interval_seconds": 10**20}, "stats_interval_seconds: 1000", id="huge"),
    pytest.param(
        {"stats_interval_seconds": 600.0},
        "stats_interval_seconds: expected whole seconds, got 600.0",
        id="float",
    ),
    pytest.param(
        {"stats_interval_seconds": True}, "stats_interval_seconds: expected whole", id="bool"
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD_VALUES)
def test_bad_values_are_refused_naming_the_field(
    store: Store, extra: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {
        "name": "acme",
        "location_id": "loc_1",
        "ghl_token": "t",
        "crm_url": "http://crm.test",
    }
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        store.create_connection(**{**values, **extra})
    assert store.list_connections() == []


@pytest.mark.parametrize("seconds", [300, 2_678_400], ids=["5-minutes", "31-days"])
def test_the_interval_bounds_are_inclusive(store: Store, seconds: int) -> None:
    created = _add(store, "acme", stats_interval_seconds=seconds)
    assert created.stats_interval_seconds == seconds
    updated = store.update_connection(created.id, stats_interval_seconds=seconds)
    assert updated.stats_interval_seconds == seconds


def test_names_that_merely_contain_the_id_prefix_are_fine(store: Store) -> None:
    for name in ("acme con_1", "icon_set", "con-acme", "con"):
        assert _add(store, name).name == name


def test_names_are_unique(store: Store, connection: ConnectionRecord) -> None:
    with pytest.raises(DuplicateName, match="acme"):
        _add(store, connection.name)
    assert [found.id for found in store.list_connections()] == [connection.id]


def test_find_connection_by_id_or_name(store: Store, connection: ConnectionRecord) -> None:
    assert store.find_connection(connection.id) == connection
    assert store.find_connection("acme") == connection
    assert store.find_connection("nobody") is None
    assert store.get_connection("con_0000000000000000") is None


def test_an_id_wins_over_a_name_that_looks_like_an_id(
    database: Database, store: Store, connection: ConnectionRecord
) -> None:
    # Such names are refused now; one stored before that is still never taken for an id.
    impostor = _add(store, "impostor")
    url, engine_options = database
    engine = make_engine(url, engine_options)
    try:
        with engine.begin() as raw:
            raw.execute(
                text("UPDATE connections SET name = :name WHERE id = :id"),
                {"name": connection.id, "id": impostor.id},
            )
    finally:
        engine.dispose()
    assert store.find_connection(connection.id) == connection
    renamed = store.find_connection(impostor.id)
    assert renamed is not None
    assert (renamed.id, renamed.name) == (impostor.id, connection.id)


def test_list_connections_by_name(store: Store) -> None:
    for name in ("zeta", "alpha", "mid"):
        _add(store, name)
    assert [found.name for found in store.list_connections()] == ["alpha", "mid", "zeta"]


def test_secrets_are_encrypted_at_rest(database: Database, store: Store) -> None:
    created = store.create_connection(
        name="acme",
        location_id="loc_1",
        ghl_token="ghl-plaintext-token",
        crm_url="http://crm.test",
        crm_secret=OUTBOUND,
        webhook_secret=INBOUND,
    )
    store.add_webhook_secret(created.id)
    url, engine_options = database
    engine = make_engine(url, engine_options)
    try:
        with engine.connect() as raw:
            row = raw.execute(text("SELECT * FROM connections")).mappings().one()
    finally:
        engine.dispose()
    stored = " ".join(str(value) for value in row.values())
    rotated = store.get_connection(created.id)
    assert rotated is not None
    for plaintext in ("ghl-plaintext-token", OUTBOUND, INBOUND, *rotated.webhook_secrets):
        assert plaintext not in stored
        assert plaintext.removeprefix("whsec_") not in stored


def test_another_secret_key_cannot_read_the_secrets(
    database: Database, connection: ConnectionRecord
) -> None:
    url, engine_options = database
    other = Store(url, "a different secret key", engine_options=engine_options)
    try:
        with pytest.raises(SecretUnreadable, match="SECRET_KEY changed"):
            other.get_connection(connection.id)
    finally:
        other.dispose()


def test_park_and_activate(store: Store, connection: ConnectionRecord) -> None:
    store.park_connection(connection.id, "GHL refused the token")
    parked = store.get_connection(connection.id)
    assert parked is not None
    assert (parked.status, parked.status_reason) == ("parked", "GHL refused the token")
    assert not parked.is_active
    assert parked.updated_at > connection.updated_at

    store.activate_connection(connection.id)
    active = store.get_connection(connection.id)
    assert active is not None
    assert (active.status, active.status_reason) == ("active", None)


def test_a_park_that_saw_an_older_connection_changes_nothing(
    store: Store, connection: ConnectionRecord
) -> None:
    # An attempt ran with the old token; meanwhile the operator fixed the token and activated.
    store.park_connection(connection.id, "GHL refused the token")
    store.update_connection(connection.id, ghl_token="pit-fixed")
    store.activate_connection(connection.id)

    assert not store.park_connection(
        connection.id, "GHL refused the token", unchanged_since=connection.updated_at
    )
    current = store.get_connection(connection.id)
    assert current is not None
    assert current.status == "active"
    assert store.park_connection(connection.id, "refused again", unchanged_since=current.updated_at)


def test_park_and_activate_an_unknown_connection(store: Store) -> None:
    with pytest.raises(NotFound):
        store.park_connection("con_0000000000000000", "why")
    with pytest.raises(NotFound):
        store.activate_connection("con_0000000000000000")


def test_webhook_secret_rotation_prepends_the_new_secret(
    store: Store, connection: ConnectionRecord
) -> None:
    (first,) = connection.webhook_secrets
    generated = store.add_webhook_secret(connection.id)
    assert generated.startswith("whsec_")
    assert store.add_webhook_secret(connection.id, INBOUND) == INBOUND

    rotated = store.get_connection(connection.id)
    assert rotated is not None
    assert rotated.webhook_secrets == (INBOUND, generated, first)
    # Adding a secret that is already active moves it to the front instead of doubling it.
    store.add_webhook_secret(connection.id, first)
    again = store.get_connection(connection.id)
    assert again is not None
    assert again.webhook_secrets == (first, INBOUND, generated)

    assert store.retire_webhook_secrets(connection.id) == (first,)
    retired = store.get_connection(connection.id)
    assert retired is not None
    assert retired.webhook_secrets == (first,)


def test_rotation_checks_its_input(store: Store, connection: ConnectionRecord) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        store.add_webhook_secret(connection.id, "plain")
    with pytest.raises(ValueError, match="at least one"):
        store.retire_webhook_secrets(connection.id, keep=0)
    with pytest.raises(NotFound):
        store.add_webhook_secret("con_0000000000000000")


def test_delete_connection_removes_everything_of_it(
    store: Store, connection: ConnectionRecord
) -> None:
    other = _add(store, "other")
    for owner in (connection, other):
        store.record_event(
            connection_id=owner.id, type="post.published", payload={}, webhook_id="w1"
        )
        store.save_post_tags(
            connection_id=owner.id, crm_post_id="p1", location_id="loc", tags=[], post_tags=[]
        )
        store.save_snapshot(
            connection_id=owner.id,
            location_id="loc",
            start_date=date(2025, 1, 1),
            end_date=date(2025, 1, 7),
            profile_ids=[],
            totals={},
            platforms={},
            daily={},
            day_range=[],
        )

    assert store.delete_connection(connection.id) is True

    assert store.get_connection(connection.id) is None
    assert store.list_events(connection_id=connection.id) == []
    assert store.list_posts(connection.id) == []
    assert store.list_snapshots(connection.id) == []
    assert len(store.list_events(connection_id=other.id)) == 1
    assert len(store.list_posts(other.id)) == 1
    assert len(store.list_snapshots(other.id)) == 1
    assert store.delete_connection(connection.id) is False


def test_concurrent_creations_of_one_name_make_one_connection(store: Store) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    created: list[ConnectionRecord] = []
    refused: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait()
            created.append(_add(store, "acme"))
        except BaseException as error:  # reported by the main thread
            refused.append(error)

    threads = [threading.Thread(target=create) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == 1
    assert len(refused) == workers - 1
    assert all(isinstance(error, DuplicateName) for error in refused)
    assert store.list_connections() == created


def test_update_connection_changes_only_the_fields_given(
    store: Store, connection: ConnectionRecord
) -> None:
    renamed = store.update_connection(connection.id, name="acme-renamed")
    assert renamed.updated_at > connection.updated_at
    assert renamed == dataclasses.replace(
        connection, name="acme-renamed", updated_at=renamed.updated_at
    )
    assert store.get_connection(connection.id) == renamed

    interval = store.update_connection(connection.id, stats_interval_seconds=600)
    assert interval == dataclasses.replace(
        renamed, stats_interval_seconds=600, updated_at=interval.updated_at
    )
    assert interval.updated_at > renamed.updated_at


def test_update_connection_changes_every_field_and_encrypts_the_secrets(
    database: Database, store: Store, connection: ConnectionRecord
) -> None:
    store.park_connection(connection.id, "GHL refused the token")
    updated = store.update_connection(
        connection.id,
        name="renamed",
        ghl_token="ghl-new-plaintext-token",
        crm_url="http://crm.test/new",
        crm_secret=OUTBOUND,
        stats_interval_seconds=3600,
    )
    assert (updated.name, updated.ghl_token, updated.crm_url) == (
        "renamed",
        "ghl-new-plaintext-token",
        "http://crm.test/new",
    )
    assert (updated.crm_secret, updated.stats_interval_seconds) == (OUTBOUND, 3600)
    # Neither the inbound secrets nor the status are this method's business.
    assert updated.webhook_secrets == connection.webhook_secrets
    assert (updated.status, updated.status_reason) == ("parked", "GHL refused the token")
    assert (updated.id, updated.location_id, updated.crm_kind, updated.created_at) == (
        connection.id,
        connection.location_id,
        connection.crm_kind,
        connection.created_at,
    )
    assert store.get_connection(connection.id) == updated

    url, engine_options = database
    engine = make_engine(url, engine_options)
    try:
        with engine.connect() as raw:
            row = raw.execute(text("SELECT * FROM connections")).mappings().one()
    finally:
        engine.dispose()
    stored = " ".join(str(value) for value in row.values())
    for plaintext in ("ghl-new-plaintext-token", OUTBOUND, OUTBOUND.removeprefix("whsec_")):
        assert plaintext not in stored


UPDATE_ONLY = [
    pytest.param(
        {"crm_secret": "whsec_not base64"},
        "a webhook secret is 'whsec_' followed by base64",
        id="crm_secret_base64",
    ),
    pytest.param({"name": ""}, "name: must not be empty", id="empty_name"),
    pytest.param(
        {"stats_interval_seconds": -5}, "stats_interval_seconds: -5 is out of range", id="negative"
    ),
]
UPDATABLE = ("name", "ghl_token", "crm_url", "crm_secret", "stats_interval_seconds")


@pytest.mark.parametrize(
    ("change", "message"),
    [*[case for case in BAD_VALUES if set(case.values[0]) <= set(UPDATABLE)], *UPDATE_ONLY],
)
def test_update_connection_refuses_bad_values(
    store: Store, connection: ConnectionRecord, change: dict[str, Any], message: str
) -> None:
    changes = {"ghl_token": "not kept", **change}
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        store.update_connection(connection.id, **changes)
    assert store.get_connection(connection.id) == connection


def test_update_connection_checks_the_crm_secret_by_the_kind_of_crm(store: Store) -> None:
    office = _add(store, "office", crm_kind="smartoffice", crm_secret="a password")
    updated = store.update_connection(office.id, crm_secret="another password")
    assert updated.crm_secret == "another password"


def test_update_connection_refuses_a_taken_name(store: Store, connection: ConnectionRecord) -> None:
    other = _add(store, "other")
    with pytest.raises(DuplicateName, match="acme"):
        store.update_connection(other.id, name=connection.name, crm_url="http://not.kept")
    assert store.get_connection(other.id) == other
    # Its own name is not taken by someone else.
    same = store.update_connection(connection.id, name=connection.name)
    assert same.name == connection.name


def test_update_an_unknown_connection(store: Store) -> None:
    with pytest.raises(NotFound):
        store.update_connection("con_0000000000000000", name="x")
    assert store.list_connections() == []


def test_concurrent_renames_to_one_name_rename_one_connection(store: Store) -> None:
    workers = 6
    connections = [_add(store, f"c{n}") for n in range(workers)]
    barrier = threading.Barrier(workers)
    renamed: list[ConnectionRecord] = []
    refused: list[BaseException] = []

    def rename(connection_id: str) -> None:
        try:
            barrier.wait()
            renamed.append(store.update_connection(connection_id, name="same"))
        except BaseException as error:  # reported by the main thread
            refused.append(error)

    threads = [threading.Thread(target=rename, args=(c.id,)) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(renamed) == 1
    assert len(refused) == workers - 1
    assert all(isinstance(error, DuplicateName) for error in refused)
    names = sorted(found.name for found in store.list_connections())
    assert names.count("same") == 1
    assert len(names) == workers


# --- connector settings, inbound tokens, mappings ---------------------------------------------

SO_SETTINGS = {"auth": "direct", "office": "demo", "user": "agent", "password": "pw-1"}


def _smartoffice(store: Store, name: str = "so", **extra: Any) -> ConnectionRecord:
    return store.create_connection(
        name=name,
        location_id="loc_so",
        ghl_token="token-so",
        crm_url="http://so.test/xml",
        crm_kind="smartoffice",
        crm_settings=SO_SETTINGS,
        inbound_auth="token",
        **extra,
    )


def test_settings_are_kept_encrypted_and_read_back(store: Store, database: Database) -> None:
    created = _smartoffice(store)
    assert created.crm_settings == SO_SETTINGS
    assert store.get_connection(created.id) == created
    # Only the webhook kind has a signing secret.
    assert created.crm_secret == ""
    url, engine_options = database
    engine = make_engine(url, engine_options)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT crm_settings_encrypted, inbound_token_encrypted FROM connections")
            ).one()
    finally:
        engine.dispose()
    for column in stored:
        assert "pw-1" not in column
        assert created.inbound_token is not None
        assert created.inbound_token not in column


def test_a_token_connection_gets_a_token_and_a_signing_one_none(store: Store) -> None:
    token = _smartoffice(store)
    signing = _add(store, "acme")
    assert token.inbound_auth == "token"
    assert token.inbound_token is not None
    assert re.fullmatch(r"sbt_[A-Za-z0-9_-]{43}", token.inbound_token)
    assert token.inbound_tokens == (token.inbound_token,)
    assert (signing.inbound_auth, signing.inbound_token, signing.inbound_tokens) == (
        "signature",
        None,
        (),
    )


def test_an_unknown_inbound_mode_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="inbound_auth: 'basic' is not one of signature, token"):
        _add(store, "acme", inbound_auth="basic")
    assert store.list_connections() == []


def test_inbound_tokens_rotate_with_overlap_then_retire(store: Store) -> None:
    created = _smartoffice(store)
    newer = store.add_inbound_token(created.id)
    rotated = store.get_connection(created.id)
    assert rotated is not None
    assert rotated.inbound_tokens == (newer, created.inbound_token)
    assert rotated.inbound_token == newer
    assert store.retire_inbound_tokens(created.id) == (newer,)
    retired = store.get_connection(created.id)
    assert retired is not None
    assert retired.inbound_tokens == (newer,)


def test_a_signing_connection_has_no_token_to_rotate(store: Store) -> None:
    created = _add(store, "acme")
    with pytest.raises(ValueError, match="by signature, not by token"):
        store.add_inbound_token(created.id)
    with pytest.raises(ValueError, match="by signature, not by token"):
        store.retire_inbound_tokens(created.id)


def test_update_replaces_settings_and_sets_or_removes_the_mapping(store: Store) -> None:
    created = _smartoffice(store, mapping="version: 1\n")
    assert created.mapping == "version: 1\n"
    changed = {**SO_SETTINGS, "password": "pw-2"}
    updated = store.update_connection(created.id, crm_settings=changed, mapping="version: 1\n# b\n")
    assert (updated.crm_settings, updated.mapping) == (changed, "version: 1\n# b\n")
    removed = store.update_connection(created.id, remove_mapping=True)
    assert removed.mapping is None
    assert removed.crm_settings == changed


def test_unstorable_settings_and_mappings_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="crm setting office: expected text, a number"):
        _add(store, "a", crm_kind="smartoffice", crm_settings={"office": ["x"]})
    with pytest.raises(ValueError, match="mapping: at most 65536 characters"):
        _add(store, "b", mapping="#" * 65537)
    with pytest.raises(ValueError, match="lone surrogate"):
        _add(store, "c", mapping="version: 1\n# \ud800\n")
    assert store.list_connections() == []
