"""Console users in the store: add, list, remove, reset, verify, failures and locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from store import (
    DuplicateName,
    InvalidEmail,
    NotFound,
    PasswordRefused,
    Store,
    UserRole,
)
from store.models import UserRow

PASSWORD = "correct horse battery"


def test_a_user_is_added_with_a_hash_never_the_password(store: Store) -> None:
    user = store.add_user("Ann@Example.COM ", PASSWORD, UserRole.ADMIN)

    assert user.id.startswith("usr_")
    assert user.email == "ann@example.com"
    assert user.role is UserRole.ADMIN
    assert user.failed_attempts == 0
    assert user.locked_until is None
    with store._database.transaction() as session:
        stored = session.scalar(select(UserRow.password_hash))
    assert stored is not None
    assert stored.startswith("scrypt$v1$")
    assert PASSWORD not in stored


def test_users_are_listed_by_email_and_found_by_any_case(store: Store) -> None:
    store.add_user("zoe@example.com", PASSWORD)
    store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)

    assert [user.email for user in store.list_users()] == ["ann@example.com", "zoe@example.com"]
    found = store.find_user("ZOE@example.com")
    assert found is not None
    assert found.role is UserRole.VIEWER
    assert store.get_user(found.id) == found
    assert store.find_user("nobody@example.com") is None
    assert store.find_user("not an email") is None
    assert store.count_admins() == 1


def test_an_email_is_taken_once_whatever_its_case(store: Store) -> None:
    store.add_user("ann@example.com", PASSWORD)

    with pytest.raises(DuplicateName, match=r"ann@example\.com"):
        store.add_user("ANN@example.com", PASSWORD)


@pytest.mark.parametrize("email", ["", "ann", "ann@", "@example.com", "ann@localhost", "a b@x.com"])
def test_an_address_that_is_not_one_is_refused(store: Store, email: str) -> None:
    with pytest.raises(InvalidEmail):
        store.add_user(email, PASSWORD)
    assert store.list_users() == []


def test_a_short_password_is_refused(store: Store) -> None:
    with pytest.raises(PasswordRefused):
        store.add_user("ann@example.com", "short")
    assert store.list_users() == []


def test_verify_answers_the_user_for_the_right_password_only(store: Store) -> None:
    added = store.add_user("ann@example.com", PASSWORD)

    assert store.verify_user_password("ANN@example.com", PASSWORD) == added
    assert store.verify_user_password("ann@example.com", PASSWORD + "!") is None
    assert store.verify_user_password("nobody@example.com", PASSWORD) is None
    assert store.verify_user_password("not an email", PASSWORD) is None


def test_a_reset_changes_the_password_unlocks_and_ends_sessions(store: Store) -> None:
    added = store.add_user("ann@example.com", PASSWORD)
    store.record_sign_in_failure(added.id, lock_after=1, lock_for=timedelta(minutes=15))

    reset = store.reset_password("ann@example.com", "another long password")

    assert reset.session_generation == added.session_generation + 1
    assert reset.locked_until is None
    assert store.verify_user_password("ann@example.com", PASSWORD) is None
    assert store.verify_user_password("ann@example.com", "another long password") is not None
    with pytest.raises(NotFound):
        store.reset_password("nobody@example.com", "another long password")


def test_a_removed_user_is_gone(store: Store) -> None:
    added = store.add_user("ann@example.com", PASSWORD)

    assert store.remove_user("ann@example.com").id == added.id

    assert store.get_user(added.id) is None
    assert store.verify_user_password("ann@example.com", PASSWORD) is None
    with pytest.raises(NotFound):
        store.remove_user("ann@example.com")


def test_failures_lock_the_account_at_the_threshold(store: Store) -> None:
    added = store.add_user("ann@example.com", PASSWORD)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    for count in range(1, 3):
        user = store.record_sign_in_failure(
            added.id, lock_after=3, lock_for=timedelta(minutes=15), now=now
        )
        assert user.failed_attempts == count
        assert not user.locked_at(now)
    locked = store.record_sign_in_failure(
        added.id, lock_after=3, lock_for=timedelta(minutes=15), now=now
    )

    assert locked.locked_until == now + timedelta(minutes=15)
    assert locked.locked_at(now + timedelta(minutes=14))
    assert not locked.locked_at(now + timedelta(minutes=15))
    assert locked.failed_attempts == 0


def test_a_success_forgets_the_failures(store: Store) -> None:
    added = store.add_user("ann@example.com", PASSWORD)
    store.record_sign_in_failure(added.id, lock_after=10, lock_for=timedelta(minutes=15))
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    user = store.record_sign_in_success(added.id, now=now)

    assert user.failed_attempts == 0
    assert user.last_sign_in_at == now
    with pytest.raises(NotFound):
        store.record_sign_in_success("usr_missing")
