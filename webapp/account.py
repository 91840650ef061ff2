"""The /account page: who is signed in, and their API tokens for scripts.

Every signed-in user sees their own tokens (never a token itself: only its hash is kept).
Making and revoking one changes the console, so it needs an admin (403 for a viewer, who asks
an admin: `socialbridge users token create`). A new token is shown once, on the page that
answers its creation (never in a redirect's cookie). The views only read the form and call
`console.api_tokens`, as `socialbridge users token …` does.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console import access, api_tokens
from store import NotFound, UserRecord
from store.api_tokens import NAME_MAX_LENGTH
from webapp import context
from webapp.auth import admin_required, signed_in_user

bp = Blueprint("account", __name__)


@bp.get("/account")
def index() -> Any:
    return _page(signed_in_user())


@bp.post("/account/tokens")
@admin_required
def create_token() -> Any:
    user = signed_in_user()
    name = request.form.get("name", "")
    try:
        made = api_tokens.create_own_token(context.services().store, user, name)
    except ValueError as exc:
        return _page(user, error=str(exc), name=name), 400
    return _page(user, made=made), 201


@bp.post("/account/tokens/<token_id>/revoke")
@admin_required
def revoke_token(token_id: str) -> Any:
    try:
        revoked = api_tokens.revoke_own_token(context.services().store, signed_in_user(), token_id)
    except NotFound:
        abort(404, description="No such API token of yours (revoked already?).")
    label = f" ({revoked.name})" if revoked.name else ""
    flash(f"Revoked API token {revoked.id}{label}: its next request gets 401.")
    return redirect(url_for("account.index"), 303)


def _page(
    user: UserRecord,
    *,
    made: api_tokens.NewToken | None = None,
    error: str = "",
    name: str = "",
) -> str:
    return render_template(
        "account.html",
        user=user,
        tokens=api_tokens.own_tokens(context.services().store, user),
        may_change=access.may_change(user),
        made=made,
        error=error,
        name=name,
        name_max=NAME_MAX_LENGTH,
        api_url=context.settings().base_url + "/api/overview",
    )
