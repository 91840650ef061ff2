"""Fixtures of the store tests: every test runs on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set. Each kind is migrated once per run (a private PostgreSQL schema) and
emptied before every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store import ConnectionRecord, Store
from tests.dbutil import Database, clear_database, database_params, temporary_database

SECRET_KEY = "unit-test-secret-key"


@pytest.fixture(params=database_params())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """(url, engine_options) of a database without any table."""
    with temporary_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture(scope="session", params=database_params())
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp(request.param)
    with temporary_database(request.param, folder, upgrade=True) as database:
        yield database


@pytest.fixture
def database(migrated_database: Database) -> Database:
    """(url, engine_options) of a database migrated to head, without rows."""
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
