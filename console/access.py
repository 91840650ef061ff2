"""Roles: an admin reads and changes everything, a viewer only reads."""

from __future__ import annotations

from store import UserRecord, UserRole


def may_change(user: UserRecord) -> bool:
    """Whether ``user`` may change anything (add users, edit connections, replay...)."""
    return user.role is UserRole.ADMIN
