"""`make run`'s console admin: made on the first start (when no admin exists), its password
printed in the banner that once and stored only as a hash."""

from __future__ import annotations

from console.accounts import FirstAdmin, ensure_admin

DEV_ADMIN_EMAIL = "admin@example.com"


def ensure_dev_admin(database_url: str, secret_key: str) -> FirstAdmin | None:
    """The admin made now with its password, or None when the console has an admin already."""
    from store import Store

    store = Store(database_url, secret_key)
    try:
        return ensure_admin(store, DEV_ADMIN_EMAIL)
    finally:
        store.dispose()


def admin_lines(web_url: str, admin: FirstAdmin | None, socialbridge_command: str) -> str:
    """The banner's lines on signing in to the console."""
    if admin is None:
        return (
            f"  Console           {web_url}/\n"
            f"  Sign in           as a user of `{socialbridge_command} users list` (a lost "
            f"password: `{socialbridge_command} users reset-password EMAIL`)"
        )
    return (
        f"  Console           {web_url}/\n"
        f"  Sign in           as {admin.user.email}, password {admin.password}\n"
        f"                    (shown this once; `{socialbridge_command} users reset-password "
        f"{admin.user.email}` sets another)"
    )
