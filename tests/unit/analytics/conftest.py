"""Fixtures of the analytics tests: a real store on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set (migrated once per run, emptied before every test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store import ConnectionRecord, Store
from tests.dbutil import Database, clear_database, database_params, temporary_database

SECRET_KEY = "unit-test-secret-key"


@pytest.fixture(scope="session", params=database_params())
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp(f"analytics-{request.param}")
    with temporary_database(request.param, folder, upgrade=True) as database:
        yield database


@pytest.fixture
def database(migrated_database: Database) -> Database:
    clear_database(*migrated_database)
    return migrated_database


@pytest.fixture
def store(database: Database) -> Iterator[Store]:
    url, engine_options = database
    opened = Store(url, SECRET_KEY, engine_options=engine_options)
    yield opened
    opened.dispose()


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="acme",
        location_id="loc_acme",
        ghl_token="ghl-access-token-acme",
        crm_url="http://crm.test/hooks/acme",
    )


@pytest.fixture
def other_connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="other",
        location_id="loc_other",
        ghl_token="ghl-access-token-other",
        crm_url="http://crm.test/hooks/other",
    )
