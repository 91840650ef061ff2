"""The console's operations on a real store (SQLite, and PostgreSQL when set) and Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from console.throttle import AddressThrottle
from store import Store
from tests.dbutil import Database, clear_database, database_params, temporary_database

SECRET_KEY = "unit-test-secret-key"


@pytest.fixture(scope="session", params=database_params())
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp(f"console-{request.param}")
    with temporary_database(request.param, folder, upgrade=True) as database:
        yield database


@pytest.fixture
def store(migrated_database: Database) -> Iterator[Store]:
    clear_database(*migrated_database)
    url, engine_options = migrated_database
    opened = Store(url, SECRET_KEY, engine_options=engine_options)
    yield opened
    opened.dispose()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def throttle(redis_client: redis.Redis) -> AddressThrottle:
    return AddressThrottle(redis_client, limit=30)
