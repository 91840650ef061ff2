"""Mapping versions: every stored mapping is numbered and kept, with the connection's own."""

from __future__ import annotations

import pytest

from store import ConnectionRecord, NotFound, Store, migrate
from tests.dbutil import Database

FIRST = "version: 1\n"
SECOND = "version: 1\ninbound:\n  type: {value: post.published}\n"


def test_saving_a_mapping_sets_the_connection_and_adds_a_version(
    store: Store, connection: ConnectionRecord
) -> None:
    first = store.save_mapping(connection.id, FIRST, author="ann@example.com")
    second = store.save_mapping(connection.id, SECOND)

    assert (first.number, second.number) == (1, 2)
    assert first.author == "ann@example.com"
    assert second.author is None
    found = store.get_connection(connection.id)
    assert found is not None
    assert found.mapping == SECOND
    assert [v.number for v in store.list_mapping_versions(connection.id)] == [2, 1]
    assert store.get_mapping_version(connection.id, 1) == first
    assert store.get_mapping_version(connection.id, 3) is None


def test_a_save_is_seen_at_once_by_the_cached_read(
    store: Store, connection: ConnectionRecord
) -> None:
    assert store.cached_connection(connection.id) == connection

    store.save_mapping(connection.id, FIRST)

    cached = store.cached_connection(connection.id)
    assert cached is not None
    assert cached.mapping == FIRST


def test_a_restored_version_says_which_it_restores(
    store: Store, connection: ConnectionRecord
) -> None:
    store.save_mapping(connection.id, FIRST)
    store.save_mapping(connection.id, SECOND)

    restored = store.save_mapping(connection.id, FIRST, restored_from=1)

    assert (restored.number, restored.restored_from, restored.text) == (3, 1, FIRST)


def test_an_unknown_connection_or_unstorable_text_saves_nothing(
    store: Store, connection: ConnectionRecord
) -> None:
    with pytest.raises(NotFound):
        store.save_mapping("con_0000000000000000", FIRST)
    with pytest.raises(ValueError, match="mapping"):
        store.save_mapping(connection.id, "   ")

    assert store.list_mapping_versions(connection.id) == []


def test_the_connection_commands_keep_versions_too(store: Store) -> None:
    created = store.create_connection(
        name="mapped", location_id="loc", ghl_token="t", mapping=FIRST, mapping_author="cli"
    )
    store.update_connection(created.id, mapping=SECOND)
    store.update_connection(created.id, name="renamed")  # no mapping given: no version

    versions = store.list_mapping_versions(created.id)
    assert [(v.number, v.text, v.author) for v in versions] == [
        (2, SECOND, None),
        (1, FIRST, "cli"),
    ]


def test_deleting_the_connection_deletes_its_versions(
    store: Store, connection: ConnectionRecord
) -> None:
    store.save_mapping(connection.id, FIRST)

    assert store.delete_connection(connection.id)

    assert store.list_mapping_versions(connection.id) == []


def test_the_migration_makes_each_stored_mapping_version_1(database: Database) -> None:
    url, engine_options = database
    store = Store(url, "key", engine_options=engine_options)
    try:
        created = store.create_connection(
            name="old", location_id="loc", ghl_token="t", mapping=FIRST
        )
        plain = store.create_connection(name="plain", location_id="loc", ghl_token="t")
        migrate.downgrade(url, "0008", engine_options=engine_options)
        migrate.upgrade(url, engine_options=engine_options)

        [version] = store.list_mapping_versions(created.id)
        assert (version.number, version.text, version.author) == (1, FIRST, "migration")
        assert store.list_mapping_versions(plain.id) == []
    finally:
        store.dispose()
