from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from store import Store, StoreUnavailable, migrate
from store.crypto import SecretBox
from store.engine import make_engine
from store.models import Base, UTCDateTime
from tests.dbutil import POSTGRESQL, database_kinds, postgresql_url, sqlite_url

Database = tuple[str, dict[str, Any]]

TABLES = {
    "connections",
    "events",
    "event_attempts",
    "posts",
    "snapshots",
    "crm_writes",
    "ghl_agencies",
    "users",
    "mapping_versions",
    "oauth_states",
    "ghl_app_events",
    "stat_days",
    "post_tag_links",
    "api_tokens",
}


def _tables(url: str, engine_options: dict[str, Any]) -> set[str]:
    engine = make_engine(url, engine_options)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _differences(url: str, engine_options: dict[str, Any]) -> list[Any]:
    engine = make_engine(url, engine_options)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_from_empty_builds_exactly_the_models(empty_database: Database) -> None:
    url, engine_options = empty_database
    assert migrate.current_revision(url, engine_options=engine_options) is None

    migrate.upgrade(url, engine_options=engine_options)

    assert migrate.current_revision(url, engine_options=engine_options) == migrate.head_revision()
    assert _tables(url, engine_options) == TABLES | {"alembic_version"}
    assert _differences(url, engine_options) == []


def test_upgrading_twice_changes_nothing(empty_database: Database) -> None:
    url, engine_options = empty_database
    migrate.upgrade(url, engine_options=engine_options)
    migrate.upgrade(url, engine_options=engine_options)
    assert migrate.current_revision(url, engine_options=engine_options) == migrate.head_revision()
    assert _differences(url, engine_options) == []


def test_downgrade_to_base_removes_every_table_and_upgrade_comes_back(
    empty_database: Database,
) -> None:
    url, engine_options = empty_database
    migrate.upgrade(url, engine_options=engine_options)
    migrate.downgrade(url, "base", engine_options=engine_options)
    assert _tables(url, engine_options) == {"alembic_version"}
    assert migrate.current_revision(url, engine_options=engine_options) is None

    migrate.upgrade(url, engine_options=engine_options)
    assert _tables(url, engine_options) == TABLES | {"alembic_version"}


def test_upgrade_creates_the_folder_of_a_sqlite_file(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "not" / "there")
    migrate.upgrade(url)
    assert (tmp_path / "not" / "there" / "var" / "socialbridge.db").is_file()


def test_a_store_on_a_database_never_migrated_says_to_run_db_upgrade(
    empty_database: Database,
) -> None:
    url, engine_options = empty_database
    store = Store(url, "key", engine_options=engine_options)
    try:
        with pytest.raises(StoreUnavailable, match="socialbridge db upgrade"):
            store.list_connections()
    finally:
        store.dispose()


def test_the_migrations_folder_ships_next_to_the_module() -> None:
    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert migrate.head_revision() == "0011"


def test_postgresql_is_tested_when_configured() -> None:
    if POSTGRESQL not in database_kinds():
        pytest.skip("TEST_DATABASE_URL is not set: the store was tested on SQLite only")
    server = postgresql_url()
    assert server is not None
    store = Store(server, "key")
    try:
        store.ping()
    finally:
        store.dispose()


def test_sqlite_migrations_run_without_foreign_keys(tmp_path: Path) -> None:
    # Else re-creating `connections` in a batch migration would cascade into `events`.
    with migrate._configured(sqlite_url(tmp_path), None) as config:
        connection = config.attributes["connection"]
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0


def test_migrations_keep_the_rows(database: Database) -> None:
    url, engine_options = database
    store = Store(url, "key", engine_options=engine_options)
    try:
        created = store.create_connection(
            name="acme", location_id="loc", ghl_token="t", crm_url="http://crm.test"
        )
        store.record_event(connection_id=created.id, type="t", payload={}, webhook_id="w")
        migrate.upgrade(url, engine_options=engine_options)
        assert store.get_connection(created.id) == created
        assert len(store.list_events()) == 1
    finally:
        store.dispose()


# The events table as revision 0001 made it (the models describe head, not 0001).
EVENTS_0001 = sa.table(
    "events",
    sa.column("id", sa.String),
    sa.column("connection_id", sa.String),
    sa.column("webhook_id", sa.String),
    sa.column("source", sa.String),
    sa.column("type", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


CONNECTIONS_0001 = sa.table(
    "connections",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("location_id", sa.String),
    sa.column("crm_kind", sa.String),
    sa.column("crm_url", sa.String),
    sa.column("ghl_token_encrypted", sa.String),
    sa.column("crm_secret_encrypted", sa.String),
    sa.column("webhook_secrets_encrypted", sa.String),
    sa.column("stats_interval_seconds", sa.Integer),
    sa.column("status", sa.String),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
OLD_CRM_SECRET = "whsec_" + "A" * 32


def _insert_0001_connection(url: str, engine_options: dict[str, Any]) -> str:
    """A webhook connection as a 0001-0003 store wrote it (no connector settings); its id."""
    box = SecretBox("key")
    now = datetime.now(UTC)
    engine = make_engine(url, engine_options)
    try:
        with engine.begin() as connection:
            connection.execute(
                CONNECTIONS_0001.insert().values(
                    id="con_0000000000000001",
                    name="acme",
                    location_id="loc",
                    crm_kind="webhook",
                    crm_url="http://crm.test",
                    ghl_token_encrypted=box.encrypt("t"),
                    crm_secret_encrypted=box.encrypt(OLD_CRM_SECRET),
                    webhook_secrets_encrypted=box.encrypt('["whsec_' + "B" * 32 + '"]'),
                    stats_interval_seconds=86400,
                    status="active",
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        engine.dispose()
    return "con_0000000000000001"


def _insert_0001_event(url: str, engine_options: dict[str, Any], connection_id: str) -> None:
    now = datetime.now(UTC)
    engine = make_engine(url, engine_options)
    try:
        with engine.begin() as connection:
            connection.execute(
                EVENTS_0001.insert().values(
                    id="evt_000000000000000000000001",
                    connection_id=connection_id,
                    webhook_id="w",
                    source="webhook",
                    type="post.published",
                    payload={"k": "v"},
                    status="dead",
                    attempts=3,
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        engine.dispose()


def _event_columns_and_indexes(
    url: str, engine_options: dict[str, Any]
) -> tuple[set[str], set[str]]:
    engine = make_engine(url, engine_options)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            columns = {column["name"] for column in inspector.get_columns("events")}
            indexes = {str(index["name"]) for index in inspector.get_indexes("events")}
            return columns, indexes
    finally:
        engine.dispose()


def test_0002_gives_existing_events_zero_replays(empty_database: Database) -> None:
    url, engine_options = empty_database
    migrate.upgrade(url, "0001", engine_options=engine_options)
    connection_id = _insert_0001_connection(url, engine_options)
    _insert_0001_event(url, engine_options, connection_id)
    migrate.upgrade(url, engine_options=engine_options)
    store = Store(url, "key", engine_options=engine_options)
    try:
        (event,) = store.list_events()
        assert (event.id, event.status, event.attempts, event.replays) == (
            "evt_000000000000000000000001",
            "dead",
            3,
            0,
        )
        assert event.payload == {"k": "v"}
        assert store.requeue(event.id).replays == 1
    finally:
        store.dispose()
    assert _differences(url, engine_options) == []


def test_0004_reads_an_older_webhook_connection_as_it_was(empty_database: Database) -> None:
    url, engine_options = empty_database
    migrate.upgrade(url, "0003", engine_options=engine_options)
    connection_id = _insert_0001_connection(url, engine_options)
    migrate.upgrade(url, engine_options=engine_options)
    store = Store(url, "key", engine_options=engine_options)
    try:
        connection = store.get_connection(connection_id)
        assert connection is not None
        # Its one setting comes from the column it was kept in; it still signs by signature.
        assert connection.crm_settings == {"secret": OLD_CRM_SECRET}
        assert connection.crm_secret == OLD_CRM_SECRET
        assert (connection.inbound_auth, connection.inbound_token, connection.mapping) == (
            "signature",
            None,
            None,
        )
        # Changing a setting writes the settings column from then on.
        new_secret = "whsec_" + "C" * 32
        updated = store.update_connection(connection_id, crm_secret=new_secret)
        assert updated.crm_settings == {"secret": new_secret}
    finally:
        store.dispose()
    assert _differences(url, engine_options) == []


def test_0002_downgrades_to_0001_keeping_the_rows(empty_database: Database) -> None:
    url, engine_options = empty_database
    migrate.upgrade(url, engine_options=engine_options)
    store = Store(url, "key", engine_options=engine_options)
    try:
        created = store.create_connection(
            name="acme", location_id="loc", ghl_token="t", crm_url="http://crm.test"
        )
        event, _ = store.record_event(connection_id=created.id, type="t", payload={})
        store.requeue(event.id)

        migrate.downgrade(url, "0001", engine_options=engine_options)
        columns, indexes = _event_columns_and_indexes(url, engine_options)
        assert "replays" not in columns
        assert "ix_events_status_updated_at" not in indexes
        assert "ix_events_status_created_at" in indexes

        migrate.upgrade(url, engine_options=engine_options)
        back = store.get_event(event.id)
        assert back is not None
        assert back.replays == 0  # the count went with the column
        assert store.get_connection(created.id) == created
    finally:
        store.dispose()
    columns, indexes = _event_columns_and_indexes(url, engine_options)
    assert "replays" in columns
    assert "ix_events_status_updated_at" in indexes
    assert _differences(url, engine_options) == []


def test_0010_downgrades_to_0009_dropping_only_the_attempts(empty_database: Database) -> None:
    url, engine_options = empty_database
    migrate.upgrade(url, engine_options=engine_options)
    store = Store(url, "key", engine_options=engine_options)
    try:
        created = store.create_connection(
            name="acme", location_id="loc", ghl_token="t", crm_url="http://crm.test"
        )
        event, _ = store.record_event(connection_id=created.id, type="t", payload={})
        store.start_attempt(event.id, "task-1", lease_seconds=20)
        done = store.mark_done(event.id)
        assert len(store.attempts_of(event.id)) == 1

        # Through 0011 (API tokens) first: 0010 sits under it.
        migrate.downgrade(url, "0010", engine_options=engine_options)
        assert _tables(url, engine_options) == TABLES - {"api_tokens"} | {"alembic_version"}
        migrate.downgrade(url, "0009", engine_options=engine_options)
        assert _tables(url, engine_options) == TABLES - {"api_tokens", "event_attempts"} | {
            "alembic_version"
        }

        migrate.upgrade(url, engine_options=engine_options)
        # The event is as it was; its history went with the table, as for events from before.
        assert store.get_event(event.id) == done
        assert store.attempts_of(event.id) == []
    finally:
        store.dispose()
    assert _differences(url, engine_options) == []
