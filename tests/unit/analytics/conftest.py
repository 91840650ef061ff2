"""Fixtures of the analytics tests: the store tests' real store (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set, migrated once per run, emptied before every test), and a second
connection."""

from __future__ import annotations

import pytest

from store import ConnectionRecord, Store
from tests.unit.store.conftest import (
    SECRET_KEY,
    connection,
    database,
    migrated_database,
    store,
)

__all__ = ["SECRET_KEY", "connection", "database", "migrated_database", "store"]


@pytest.fixture
def other_connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="other",
        location_id="loc_other",
        ghl_token="ghl-access-token-other",
        crm_url="http://crm.test/hooks/other",
    )
