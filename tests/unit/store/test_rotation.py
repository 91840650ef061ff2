"""Store.rotate_secrets on SQLite and PostgreSQL: SECRET_KEY changed, the old one a fallback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from store import ConnectionRecord, GhlAgencyRecord, SecretBox, SecretUnreadable, Store
from store.engine import make_engine
from store.models import ConnectionRow, GhlAgencyRow
from store.rotation import (
    AGENCY_ENCRYPTED_COLUMNS,
    ENCRYPTED_COLUMNS,
    RotationRefused,
    UnreadableAgencyValue,
    UnreadableValue,
)
from tests.dbutil import Database

OLD_KEY = "the old secret key"
NEW_KEY = "the new secret key"
STRAY_KEY = "a key nobody kept"

Raw = dict[str, dict[str, Any]]


@pytest.fixture
def stores(database: Database) -> Iterator[dict[str, Store]]:
    """Stores on one database: "old" (the old key), "new" (the new key, the old one a fallback),
    "new_alone" (the new key without fallback) and "stray" (a key nobody kept)."""
    url, engine_options = database
    opened = {
        "old": Store(url, OLD_KEY, engine_options=engine_options),
        "new": Store(url, NEW_KEY, fallbacks=[OLD_KEY], engine_options=engine_options),
        "new_alone": Store(url, NEW_KEY, engine_options=engine_options),
        "stray": Store(url, STRAY_KEY, engine_options=engine_options),
    }
    yield opened
    for store in opened.values():
        store.dispose()


def make_connection(store: Store, name: str, **extra: Any) -> ConnectionRecord:
    return store.create_connection(
        name=name,
        location_id=f"loc_{name}",
        ghl_token=f"ghl-token-{name}",
        crm_url=f"http://crm.test/hooks/{name}",
        **extra,
    )


def raw_rows(database: Database) -> Raw:
    """Every connection's row as stored (tokens, not plaintext), by name."""
    engine = make_engine(*database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(ConnectionRow.__table__)).mappings().all()
            return {row["name"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def make_agency(store: Store, company_id: str) -> GhlAgencyRecord:
    return store.save_agency(
        company_id,
        access_token=f"agency-access-{company_id}",
        refresh_token=f"agency-refresh-{company_id}",
        expires_at=datetime.now(UTC) + timedelta(hours=24),
        scopes=["oauth.write", "socialplanner/tag.readonly"],
        approved_locations=["loc_a", "loc_b"],
    )


def raw_agencies(database: Database) -> Raw:
    """Every agency grant's row as stored, by company id."""
    engine = make_engine(*database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(GhlAgencyRow.__table__)).mappings().all()
            return {row["company_id"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def stored_values(raw: Raw) -> int:
    return sum(row[column] is not None for row in raw.values() for column in ENCRYPTED_COLUMNS)


def secrets_of(record: ConnectionRecord) -> tuple[Any, ...]:
    return (
        record.ghl_token,
        record.crm_settings,
        record.webhook_secrets,
        record.inbound_tokens,
    )


def test_the_encrypted_columns_are_every_secret_column_of_connections() -> None:
    assert set(ENCRYPTED_COLUMNS) == {
        "ghl_token_encrypted",
        "ghl_refresh_token_encrypted",
        "crm_secret_encrypted",
        "crm_settings_encrypted",
        "webhook_secrets_encrypted",
        "inbound_token_encrypted",
    }


def test_rotation_leaves_every_connection_readable_with_the_new_key_alone(
    stores: dict[str, Store], database: Database
) -> None:
    made = [
        make_connection(stores["old"], "acme"),
        make_connection(stores["old"], "globex", inbound_auth="token"),
        make_connection(stores["old"], "initech", crm_kind="smartoffice", crm_settings={"a": 1}),
    ]
    before = raw_rows(database)
    with pytest.raises(SecretUnreadable):
        stores["new_alone"].list_connections()

    report = stores["new"].rotate_secrets()

    assert report.connections == 3
    assert report.connections_rotated == 3
    assert report.values_rotated == stored_values(before)
    assert report.values_current == 0
    assert not report.dry_run
    after = {record.name: record for record in stores["new_alone"].list_connections()}
    assert {name: secrets_of(record) for name, record in after.items()} == {
        record.name: secrets_of(record) for record in made
    }
    rows = raw_rows(database)
    box = SecretBox(NEW_KEY)
    for name, row in rows.items():
        for column in ENCRYPTED_COLUMNS:
            assert (row[column] is None) == (before[name][column] is None)
            assert row[column] is None or box.is_current(row[column])
        # The secrets did not change, so neither does the connection's updated_at.
        assert row["updated_at"] == before[name]["updated_at"]


def test_a_second_rotation_finds_everything_current_and_writes_nothing(
    stores: dict[str, Store], database: Database
) -> None:
    make_connection(stores["old"], "acme")
    stores["new"].rotate_secrets()
    before = raw_rows(database)

    report = stores["new"].rotate_secrets()

    assert (report.connections, report.connections_rotated, report.values_rotated) == (1, 0, 0)
    assert report.values_current == stored_values(before)
    assert raw_rows(database) == before


def test_values_under_either_key_are_counted_apart(
    stores: dict[str, Store], database: Database
) -> None:
    make_connection(stores["old"], "acme")
    make_connection(stores["new"], "globex")
    old_values = stored_values({"acme": raw_rows(database)["acme"]})
    new_values = stored_values({"globex": raw_rows(database)["globex"]})

    report = stores["new"].rotate_secrets()

    assert (report.connections, report.connections_rotated) == (2, 1)
    assert (report.values_rotated, report.values_current) == (old_values, new_values)


def test_a_connection_with_one_stale_value_has_only_that_one_re_encrypted(
    stores: dict[str, Store], database: Database
) -> None:
    made = make_connection(stores["new"], "acme")
    # The GHL token changed by a process still on the old key alone.
    old_token = SecretBox(OLD_KEY).encrypt("ghl-token-replaced")
    _set_column(database, made.id, "ghl_token_encrypted", old_token)
    before = raw_rows(database)["acme"]

    report = stores["new"].rotate_secrets()

    assert (report.connections_rotated, report.values_rotated) == (1, 1)
    assert report.values_current == stored_values({"acme": before}) - 1
    after = raw_rows(database)["acme"]
    assert after["ghl_token_encrypted"] != old_token
    assert {c: after[c] for c in ENCRYPTED_COLUMNS if c != "ghl_token_encrypted"} == {
        c: before[c] for c in ENCRYPTED_COLUMNS if c != "ghl_token_encrypted"
    }
    record = stores["new_alone"].get_connection(made.id)
    assert record is not None
    assert record.ghl_token == "ghl-token-replaced"


def test_a_dry_run_counts_what_would_change_and_changes_nothing(
    stores: dict[str, Store], database: Database
) -> None:
    make_connection(stores["old"], "acme")
    make_connection(stores["new"], "globex")
    before = raw_rows(database)

    dry = stores["new"].rotate_secrets(dry_run=True)

    assert dry.dry_run
    assert raw_rows(database) == before
    done = stores["new"].rotate_secrets()
    assert (dry.connections, dry.connections_rotated, dry.values_rotated, dry.values_current) == (
        done.connections,
        done.connections_rotated,
        done.values_rotated,
        done.values_current,
    )


def test_a_value_no_key_opens_refuses_the_rotation_with_nothing_changed(
    stores: dict[str, Store], database: Database
) -> None:
    make_connection(stores["old"], "acme")
    stray = make_connection(stores["stray"], "umbrella", inbound_auth="token")
    before = raw_rows(database)

    with pytest.raises(RotationRefused) as raised:
        stores["new"].rotate_secrets()

    assert raw_rows(database) == before
    unreadable = raised.value.unreadable
    assert {value.column for value in unreadable} == {
        column for column in ENCRYPTED_COLUMNS if before["umbrella"][column] is not None
    }
    assert all(value == UnreadableValue(stray.id, "umbrella", value.column) for value in unreadable)
    message = str(raised.value)
    columns = ", ".join(c for c in ENCRYPTED_COLUMNS if before["umbrella"][c] is not None)
    assert "of 1 connection(s) open with neither SECRET_KEY nor SECRET_KEY_FALLBACKS" in message
    assert f"umbrella ({stray.id}): {columns}." in message
    assert "Nothing was re-encrypted" in message
    assert "SECRET_KEY_FALLBACKS" in message
    for secret in (stray.ghl_token, *stray.webhook_secrets, *stray.inbound_tokens):
        assert secret not in message
    # A refusal is a SecretUnreadable, which the CLI prints as a store error.
    assert isinstance(raised.value, SecretUnreadable)


def test_a_refusal_names_ten_connections_at_most_but_holds_every_value() -> None:
    unreadable = tuple(
        UnreadableValue(f"con_{number:02}", f"c{number:02}", column)
        for number in range(12)
        for column in ("ghl_token_encrypted", "crm_secret_encrypted")
    )

    refused = RotationRefused(unreadable)

    assert refused.unreadable == unreadable
    message = str(refused)
    assert message.startswith("24 stored value(s) of 12 connection(s) open with neither")
    assert "c09 (con_09): ghl_token_encrypted, crm_secret_encrypted; and 2 more connection(s)" in (
        message
    )
    assert "c10" not in message


def test_progress_is_told_after_each_connection_re_encrypted(stores: dict[str, Store]) -> None:
    for name in ("a1", "a2", "a3"):
        make_connection(stores["old"], name)
    make_connection(stores["new"], "current")
    calls: list[tuple[int, int]] = []

    stores["new"].rotate_secrets(progress=lambda done, total: calls.append((done, total)))

    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_an_empty_store_rotates_nothing(stores: dict[str, Store]) -> None:
    report = stores["new"].rotate_secrets()
    assert (report.connections, report.values_rotated, report.values_current) == (0, 0, 0)


def test_a_connection_deleted_during_the_rotation_is_skipped(stores: dict[str, Store]) -> None:
    first = make_connection(stores["old"], "a1")
    second = make_connection(stores["old"], "a2")
    later = second if first.id < second.id else first  # the rotation goes by id

    def delete_the_later_one(done: int, total: int) -> None:
        if done == 1:
            assert stores["new"].delete_connection(later.id)

    report = stores["new"].rotate_secrets(progress=delete_the_later_one)

    assert (report.connections, report.connections_rotated) == (2, 1)
    assert [record.name for record in stores["new_alone"].list_connections()] == [
        ({first.name, second.name} - {later.name}).pop()
    ]


# --- agency grants (ghl_agencies) --------------------------------------------------------


def test_the_agency_encrypted_columns_are_its_two_tokens() -> None:
    assert set(AGENCY_ENCRYPTED_COLUMNS) == {"access_token_encrypted", "refresh_token_encrypted"}


def test_agency_tokens_are_re_encrypted_with_the_connections(
    stores: dict[str, Store], database: Database
) -> None:
    make_connection(stores["old"], "acme")
    agency = make_agency(stores["old"], "comp_old")
    make_agency(stores["new"], "comp_new")
    before = raw_agencies(database)
    connection_values = stored_values(raw_rows(database))
    with pytest.raises(SecretUnreadable):
        stores["new_alone"].get_agency("comp_old")

    report = stores["new"].rotate_secrets()

    assert (report.agencies, report.agencies_rotated) == (2, 1)
    assert (report.connections, report.connections_rotated) == (1, 1)
    # Both tokens of comp_old rotated, both of comp_new already current.
    assert (report.values_rotated, report.values_current) == (connection_values + 2, 2)
    assert stores["new_alone"].get_agency("comp_old") == agency
    after = raw_agencies(database)
    box = SecretBox(NEW_KEY)
    for company_id, row in after.items():
        for column in AGENCY_ENCRYPTED_COLUMNS:
            assert box.is_current(row[column])
        assert row["updated_at"] == before[company_id]["updated_at"]
    assert after["comp_new"] == before["comp_new"]


def test_a_dry_run_counts_agency_tokens_and_changes_nothing(
    stores: dict[str, Store], database: Database
) -> None:
    make_agency(stores["old"], "comp_old")
    before = raw_agencies(database)

    dry = stores["new"].rotate_secrets(dry_run=True)

    assert (dry.agencies, dry.agencies_rotated, dry.values_rotated) == (1, 1, 2)
    assert raw_agencies(database) == before
    done = stores["new"].rotate_secrets()
    again = stores["new"].rotate_secrets()
    assert (done.agencies_rotated, done.values_rotated) == (1, 2)
    assert (again.agencies_rotated, again.values_rotated, again.values_current) == (0, 0, 2)


def test_an_agency_token_no_key_opens_refuses_the_rotation_naming_the_agency(
    stores: dict[str, Store], database: Database
) -> None:
    make_connection(stores["old"], "acme")
    make_agency(stores["old"], "comp_old")
    stray = make_agency(stores["stray"], "comp_stray")
    before = (raw_rows(database), raw_agencies(database))

    with pytest.raises(RotationRefused) as raised:
        stores["new"].rotate_secrets()

    assert (raw_rows(database), raw_agencies(database)) == before
    assert raised.value.unreadable == ()
    assert set(raised.value.unreadable_agencies) == {
        UnreadableAgencyValue("comp_stray", column) for column in AGENCY_ENCRYPTED_COLUMNS
    }
    message = str(raised.value)
    assert message.startswith(
        "2 stored value(s) of 0 connection(s) and 1 agency grant(s) open with neither"
    )
    assert "agency comp_stray: access_token_encrypted, refresh_token_encrypted." in message
    assert "comp_old" not in message
    for secret in (stray.access_token, stray.refresh_token):
        assert secret not in message


def test_a_refusal_lists_connections_before_agencies_and_counts_both() -> None:
    refused = RotationRefused(
        (UnreadableValue("con_1", "acme", "ghl_token_encrypted"),),
        (UnreadableAgencyValue("comp_1", "refresh_token_encrypted"),),
    )

    assert str(refused).startswith(
        "2 stored value(s) of 1 connection(s) and 1 agency grant(s) open with neither "
        "SECRET_KEY nor SECRET_KEY_FALLBACKS: acme (con_1): ghl_token_encrypted; "
        "agency comp_1: refresh_token_encrypted. Nothing was re-encrypted"
    )


def _set_column(database: Database, connection_id: str, column: str, value: str) -> None:
    engine = make_engine(*database)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == connection_id)
                .values({column: value})
            )
    finally:
        engine.dispose()
