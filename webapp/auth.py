"""Sign-in, sign-out, and the check that keeps every console page behind them.

Every endpoint needs a signed-in user except the machine ones (`security.MACHINE_BLUEPRINTS`:
the webhook receivers, OAuth, health and metrics), the sign-in page and static files. The
session (a signed cookie) holds the user's id and the generation of their password: removing
the user or resetting the password ends every session at its next request. A viewer may
read everything; a change needs an admin (`admin_required`: 403 otherwise).

The JSON API (`/api/…`) also takes a user's API token, ``Authorization: Bearer <token>``
(`console.api_tokens`): such a request is that user, with their role, and its cookie is not
read. An unknown or revoked token gets 401 and counts against the address's sign-in throttle;
an address over it gets 429, and 503 while Redis (which counts) does not answer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import redis
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from console import access, api_tokens
from console import signin as signin_flow
from console.throttle import AddressThrottle
from socialbridge.config import Settings
from store import UserRecord
from webapp import context
from webapp.errors import error_body
from webapp.security import (
    API_PREFIX,
    MACHINE_BLUEPRINTS,
    SAFE_METHODS,
    bearer_token,
    new_csrf_token,
)

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = frozenset({"auth.signin", "static"})
THROTTLE_EXTENSION = "signin_throttle"
_USER_KEY = "user_id"
_GENERATION_KEY = "generation"

View = TypeVar("View", bound=Callable[..., Any])


def init_app(app: Flask, settings: Settings) -> None:
    """The sign-in pages, the per-address throttle (in Redis), and the check on every request."""
    client: redis.Redis[bytes] = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=2
    )
    app.extensions[THROTTLE_EXTENSION] = AddressThrottle(
        client, limit=settings.signin_address_limit
    )
    app.before_request(require_sign_in)
    app.after_request(_no_store_for_signed_in)
    app.context_processor(lambda: {"current_user": current_user()})
    app.register_blueprint(bp)


def current_user() -> UserRecord | None:
    """The user signed in for this request, or None."""
    found: UserRecord | None = g.get("user")
    return found


def signed_in_user() -> UserRecord:
    """The user signed in for this request (views behind the check only)."""
    user = current_user()
    if user is None:
        abort(401)
    return user


def admin_required(view: View) -> View:
    """The view answers 403 to a viewer."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not access.may_change(signed_in_user()):
            abort(403, description="Only an admin may change this; you are signed in as a viewer.")
        return view(*args, **kwargs)

    return cast(View, checked)


def require_sign_in() -> Any:
    """Send a visitor who is not signed in to the sign-in page (401 for anything but a read)."""
    if (
        request.blueprint in MACHINE_BLUEPRINTS
        or request.endpoint in PUBLIC_ENDPOINTS
        or request.routing_exception is not None  # no such page or method: 404 or 405
    ):
        return None
    token = bearer_token()
    if token is not None:
        return _token_sign_in(token)
    user = _session_user()
    if user is None:
        # A script calling the API gets 401, not a sign-in page it cannot fill.
        if request.method in SAFE_METHODS and not request.path.startswith(API_PREFIX):
            return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
        abort(401, description="Sign in first.")
    g.user = user
    return None


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if _session_user() is not None:
            return redirect(target)
        return render_template("signin.html", next=target, email="", message="")
    email = request.form.get("email", "")
    try:
        result = signin_flow.sign_in(
            context.services().store,
            current_app.extensions[THROTTLE_EXTENSION],
            email=email,
            password=request.form.get("password", ""),
            address=request.remote_addr or "unknown",
        )
    except redis.RedisError:
        # Without the per-address count, guessing would be unlimited: refuse until it is back.
        message = "Signing in is unavailable for a moment (Redis does not answer): try again."
        page = render_template("signin.html", next=target, email=email, message=message)
        return page, 503, {"Retry-After": "5"}
    if result.user is None:
        status = 429 if result.refusal is signin_flow.Refusal.THROTTLED else 401
        page = render_template("signin.html", next=target, email=email, message=result.message)
        headers = {"Retry-After": str(result.retry_after)} if result.retry_after else {}
        return page, status, headers
    # A new session: nothing a visitor held before signing in (fixation) carries over.
    session.clear()
    session.permanent = True
    session[_USER_KEY] = result.user.id
    session[_GENERATION_KEY] = result.user.session_generation
    new_csrf_token()
    return redirect(target)


@bp.post("/signout")
def signout() -> Any:
    session.clear()
    return redirect(url_for("auth.signin"))


def _token_sign_in(token: str) -> Any:
    """Sign this API request in with its token, or answer it: 401, 429 or 503 (as JSON)."""
    try:
        result = api_tokens.authenticate(
            context.services().store,
            current_app.extensions[THROTTLE_EXTENSION],
            token,
            address=request.remote_addr or "unknown",
        )
    except redis.RedisError:
        # Without the per-address count, guessing would be unlimited: refuse until it is back.
        message = "Signing in is unavailable for a moment (Redis does not answer): try again."
        body = error_body("service_unavailable", message)
        return jsonify(body), 503, {"Retry-After": "5"}
    if result.user is None:
        if result.refusal is signin_flow.Refusal.THROTTLED:
            body = error_body("too_many_requests", result.message)
            return jsonify(body), 429, {"Retry-After": str(result.retry_after)}
        body = error_body("unauthorized", result.message)
        return jsonify(body), 401, {"WWW-Authenticate": 'Bearer realm="socialbridge"'}
    g.user = result.user
    return None


def _session_user() -> UserRecord | None:
    user_id = session.get(_USER_KEY)
    if not isinstance(user_id, str):
        return None
    user = context.services().store.get_user(user_id)
    if user is None or user.session_generation != session.get(_GENERATION_KEY):
        # Removed, or the password was reset since: this session is over.
        session.clear()
        return None
    return user


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of ours only (never another site)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target


def _no_store_for_signed_in(response: Response) -> Response:
    # Pages for a signed-in user are theirs alone: no shared or back-button cache keeps them.
    if current_user() is not None:
        response.headers.setdefault("Cache-Control", "no-store")
    return response
