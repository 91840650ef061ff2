"""Users as the CLI and the /users page manage them."""

from __future__ import annotations

import pytest

from console import accounts
from store import NotFound, Store, UserRole

PASSWORD = "correct horse battery"


def test_the_last_admin_cannot_be_removed(store: Store) -> None:
    accounts.add_user(store, "ann@example.com", PASSWORD, UserRole.ADMIN)
    accounts.add_user(store, "bob@example.com", PASSWORD, UserRole.VIEWER)

    with pytest.raises(accounts.LastAdmin, match="only admin"):
        accounts.remove_user(store, "ann@example.com")
    assert [user.email for user in accounts.list_users(store)] == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_an_admin_goes_once_another_exists(store: Store) -> None:
    accounts.add_user(store, "ann@example.com", PASSWORD, UserRole.ADMIN)
    accounts.add_user(store, "cid@example.com", PASSWORD, UserRole.ADMIN)

    removed = accounts.remove_user(store, "ANN@example.com")

    assert removed.email == "ann@example.com"
    assert [user.email for user in accounts.list_users(store)] == ["cid@example.com"]


def test_removing_nobody_says_so(store: Store) -> None:
    with pytest.raises(NotFound, match="nobody@example"):
        accounts.remove_user(store, "nobody@example.com")


def test_the_first_admin_is_made_once(store: Store) -> None:
    first = accounts.ensure_admin(store, "admin@localhost.localdomain")

    assert first is not None
    assert first.user.role is UserRole.ADMIN
    assert len(first.password) >= 20
    assert store.verify_user_password(first.user.email, first.password) is not None
    assert accounts.ensure_admin(store, "admin@localhost.localdomain") is None
    assert len(accounts.list_users(store)) == 1


def test_a_reset_password_signs_in(store: Store) -> None:
    accounts.add_user(store, "ann@example.com", PASSWORD, UserRole.VIEWER)

    accounts.reset_password(store, "ann@example.com", "a brand new password")

    assert store.verify_user_password("ann@example.com", "a brand new password") is not None
