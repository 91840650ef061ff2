from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import make_url

from store.models import Base, UTCDateTime

PARIS_WINTER = timezone(timedelta(hours=1))
SQLITE = make_url("sqlite://").get_dialect()()
POSTGRESQL = make_url("postgresql+psycopg://").get_dialect()()


def test_timestamps_are_stored_in_utc() -> None:
    column = UTCDateTime()
    stored = column.process_bind_param(datetime(2025, 1, 1, 13, 0, tzinfo=PARIS_WINTER), SQLITE)
    assert stored == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert stored is not None
    assert stored.tzinfo == UTC
    assert column.process_bind_param(None, SQLITE) is None


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 1), SQLITE)


def test_timestamps_come_back_aware_in_utc() -> None:
    column = UTCDateTime()
    naive_from_sqlite = datetime(2025, 1, 1, 12, 0)  # what SQLite returns
    assert column.process_result_value(naive_from_sqlite, SQLITE) == datetime(
        2025, 1, 1, 12, 0, tzinfo=UTC
    )
    from_postgresql = datetime(2025, 1, 1, 13, 0, tzinfo=PARIS_WINTER)
    back = column.process_result_value(from_postgresql, POSTGRESQL)
    assert back is not None
    assert back.tzinfo == UTC
    assert back == from_postgresql
    assert column.process_result_value(None, SQLITE) is None


def test_every_constraint_and_index_has_a_name() -> None:
    # Batch migrations on SQLite find constraints by name.
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            assert constraint.name, f"{table.name}: unnamed {constraint!r}"
        for index in table.indexes:
            assert index.name, f"{table.name}: unnamed {index!r}"


def test_no_column_holds_a_secret_in_clear() -> None:
    columns = {column.name for table in Base.metadata.sorted_tables for column in table.columns}
    # When a token expires and which save of tokens it is are not secrets; nor is an API
    # token's SHA-256 (the token is 32 random bytes: its hash cannot be turned back).
    token_facts = {"token_expires_at", "token_generation", "token_hash"}
    secret_like = {
        name
        for name in columns - token_facts
        if any(word in name for word in ("token", "secret", "settings"))
    }
    assert secret_like == {
        "ghl_token_encrypted",
        "ghl_refresh_token_encrypted",
        "access_token_encrypted",
        "refresh_token_encrypted",
        "crm_secret_encrypted",
        "crm_settings_encrypted",
        "webhook_secrets_encrypted",
        "inbound_token_encrypted",
    }
