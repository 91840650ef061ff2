"""Console users: what `socialbridge users …` and the /users page do, in one place each."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from store import NotFound, Store, StoreError, UserRecord, UserRole


class LastAdmin(StoreError):
    """The change would leave the console without any admin."""


def add_user(store: Store, email: str, password: str, role: UserRole) -> UserRecord:
    """A new user (DuplicateName, InvalidEmail, PasswordRefused when it cannot be)."""
    return store.add_user(email, password, role)


def list_users(store: Store) -> list[UserRecord]:
    """Every user, by email."""
    return store.list_users()


def remove_user(store: Store, email: str) -> UserRecord:
    """Delete a user; never the last admin (LastAdmin), who alone could add others."""
    user = store.find_user(email)
    if user is None:
        raise NotFound(f"no user {email.strip().lower()!r}")
    if user.role is UserRole.ADMIN and store.count_admins() <= 1:
        raise LastAdmin(f"{user.email} is the only admin: add another admin first")
    return store.remove_user(user.email)


def reset_password(store: Store, email: str, password: str) -> UserRecord:
    """A new password for the user: it unlocks the account and ends its sessions."""
    return store.reset_password(email, password)


@dataclass(frozen=True)
class FirstAdmin:
    """The admin `make run` created, and its password (shown once, never stored in clear)."""

    user: UserRecord
    password: str


def ensure_admin(store: Store, email: str) -> FirstAdmin | None:
    """Create ``email`` as an admin with a random password when there is no admin at all.

    None when an admin exists already: its password is not known here and not changed.
    """
    if store.count_admins() > 0:
        return None
    password = secrets.token_urlsafe(15)
    return FirstAdmin(store.add_user(email, password, UserRole.ADMIN), password)
