"""The /users page: every signed-in user sees who may sign in; admins add and remove them.

The views only read the form and call `console.accounts`, as `socialbridge users` does.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from console import access, accounts
from store import DuplicateName, InvalidEmail, NotFound, PasswordRefused, UserRole
from webapp import context
from webapp.auth import admin_required, signed_in_user

bp = Blueprint("users", __name__)


@bp.get("/users")
def index() -> Any:
    return _page()


@bp.post("/users")
@admin_required
def add() -> Any:
    role = request.form.get("role", UserRole.VIEWER.value)
    email = request.form.get("email", "")
    if role not in {r.value for r in UserRole}:
        return _page(error=f"role: expected admin or viewer, got {role!r}", email=email), 400
    try:
        user = accounts.add_user(
            context.services().store, email, request.form.get("password", ""), UserRole(role)
        )
    except (InvalidEmail, PasswordRefused, DuplicateName) as exc:
        return _page(error=str(exc), email=email, role=role), 400
    flash(f"Added {user.email} ({user.role}).")
    return redirect(url_for("users.index"), 303)


@bp.post("/users/<user_id>/remove")
@admin_required
def remove(user_id: str) -> Any:
    store = context.services().store
    user = store.get_user(user_id)
    if user is None:
        return _page(error="That user was removed already."), 404
    try:
        accounts.remove_user(store, user.email)
    except (accounts.LastAdmin, NotFound) as exc:
        return _page(error=str(exc)), 400
    flash(f"Removed {user.email}.")
    return redirect(url_for("users.index"), 303)


def _page(*, error: str = "", email: str = "", role: str = UserRole.VIEWER.value) -> str:
    return render_template(
        "users.html",
        users=accounts.list_users(context.services().store),
        may_change=access.may_change(signed_in_user()),
        roles=[r.value for r in UserRole],
        error=error,
        email=email,
        role=role,
    )
