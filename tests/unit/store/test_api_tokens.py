"""API tokens in the store: made once, kept as a hash, listed, used, revoked, gone with
their user."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from store import NotFound, Store, UserRole
from store.api_tokens import LAST_USED_PRECISION, TOKEN_PREFIX
from store.models import ApiTokenRow

PASSWORD = "correct horse battery"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_a_token_is_shown_once_and_only_its_hash_is_kept(store: Store) -> None:
    user = store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)

    record, token = store.create_api_token(user.id, " nightly export ", now=NOW)

    assert token.startswith(TOKEN_PREFIX)
    assert len(token) == len(TOKEN_PREFIX) + 43  # 32 random bytes, base64url
    assert record.id.startswith("tok_")
    assert (record.user_id, record.email, record.name) == (user.id, user.email, "nightly export")
    assert record.created_at == NOW
    assert record.last_used_at is None
    with store._database.transaction() as session:
        row = session.scalars(select(ApiTokenRow)).one()
        stored = [str(getattr(row, column.name)) for column in ApiTokenRow.__table__.columns]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in value and token[len(TOKEN_PREFIX) :] not in value for value in stored)


def test_two_tokens_are_never_the_same(store: Store) -> None:
    user = store.add_user("ann@example.com", PASSWORD)

    _, first = store.create_api_token(user.id)
    _, second = store.create_api_token(user.id)

    assert first != second


def test_a_token_for_no_user_or_with_a_long_name_is_refused(store: Store) -> None:
    user = store.add_user("ann@example.com", PASSWORD)

    with pytest.raises(NotFound):
        store.create_api_token("usr_nobody")
    with pytest.raises(ValueError, match="name: at most 100"):
        store.create_api_token(user.id, "x" * 101)
    assert store.list_api_tokens() == []


def test_tokens_are_listed_by_email_then_newest_first(store: Store) -> None:
    zoe = store.add_user("zoe@example.com", PASSWORD)
    ann = store.add_user("ann@example.com", PASSWORD)
    older, _ = store.create_api_token(zoe.id, "older", now=NOW)
    newer, _ = store.create_api_token(zoe.id, "newer", now=NOW + timedelta(hours=1))
    anns, _ = store.create_api_token(ann.id, "ann's", now=NOW)

    assert [t.id for t in store.list_api_tokens()] == [anns.id, newer.id, older.id]
    assert [t.id for t in store.list_api_tokens(zoe.id)] == [newer.id, older.id]
    assert store.get_api_token(older.id) == older
    assert store.get_api_token("tok_nope") is None


def test_using_a_token_gives_its_user_and_notes_the_use_once_a_minute(store: Store) -> None:
    user = store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)
    record, token = store.create_api_token(user.id, now=NOW)

    found = store.use_api_token(token, now=NOW + timedelta(seconds=5))
    assert found is not None
    used, owner = found
    assert owner == user
    assert used.id == record.id
    assert used.last_used_at == NOW + timedelta(seconds=5)

    store.use_api_token(token, now=NOW + timedelta(seconds=30))
    after = store.get_api_token(record.id)
    assert after is not None
    assert after.last_used_at == NOW + timedelta(seconds=5)  # within the minute: not written

    later = NOW + timedelta(seconds=5) + LAST_USED_PRECISION
    store.use_api_token(token, now=later)
    assert store.get_api_token(record.id) == replace(used, last_used_at=later)


def test_an_unknown_or_malformed_token_finds_nothing(store: Store) -> None:
    user = store.add_user("ann@example.com", PASSWORD)
    _, token = store.create_api_token(user.id)

    assert store.use_api_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.use_api_token(token[len(TOKEN_PREFIX) :]) is None  # without its prefix
    assert store.use_api_token("") is None
    assert store.use_api_token(TOKEN_PREFIX + "x" * 500) is None


def test_a_revoked_token_no_longer_works(store: Store) -> None:
    user = store.add_user("ann@example.com", PASSWORD)
    record, token = store.create_api_token(user.id)
    kept, other = store.create_api_token(user.id)

    revoked = store.revoke_api_token(record.id)

    assert revoked.id == record.id
    assert store.use_api_token(token) is None
    assert store.use_api_token(other) is not None
    assert [t.id for t in store.list_api_tokens()] == [kept.id]
    with pytest.raises(NotFound):
        store.revoke_api_token(record.id)


def test_removing_a_user_deletes_their_tokens(store: Store) -> None:
    ann = store.add_user("ann@example.com", PASSWORD)
    zoe = store.add_user("zoe@example.com", PASSWORD)
    _, token = store.create_api_token(ann.id)
    zoes, _ = store.create_api_token(zoe.id)

    store.remove_user("ann@example.com")

    assert store.use_api_token(token) is None
    assert [t.id for t in store.list_api_tokens()] == [zoes.id]


def test_a_password_reset_keeps_the_tokens(store: Store) -> None:
    user = store.add_user("ann@example.com", PASSWORD)
    _, token = store.create_api_token(user.id)

    store.reset_password("ann@example.com", "another long password")

    found = store.use_api_token(token)
    assert found is not None
    assert found[1].session_generation == user.session_generation + 1
