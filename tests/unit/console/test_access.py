"""What each role may do."""

from __future__ import annotations

from console.access import may_change
from store import Store, UserRole


def test_only_an_admin_may_change_things(store: Store) -> None:
    admin = store.add_user("ann@example.com", "correct horse battery", UserRole.ADMIN)
    viewer = store.add_user("bob@example.com", "correct horse battery", UserRole.VIEWER)

    assert may_change(admin)
    assert not may_change(viewer)
