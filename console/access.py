"""Roles: an admin reads and changes everything, a viewer only reads."""

from __future__ import annotations

from store import UserRecord, UserRole


class Forbidden(Exception):
    """The user's role does not allow this change (the web answers 403)."""


def may_change(user: UserRecord) -> bool:
    """Whether ``user`` may change anything (add users, edit connections, replay...)."""
    return user.role is UserRole.ADMIN


def require_change(user: UserRecord) -> None:
    """Forbidden unless ``user`` may change things."""
    if not may_change(user):
        raise Forbidden(f"{user.email} is a viewer: only an admin may change this")
