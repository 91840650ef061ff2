"""What every response and every state-changing request goes through: security headers, the
CSRF check, the session cookie's flags and the client address behind trusted proxies.

CSRF: each session holds a random token; every form carries it in a hidden ``csrf_token``
field (templates call ``csrf_token()``) and scripts send it in an ``X-CSRF-Token`` header. A
POST (PUT, PATCH, DELETE) without the session's token is refused with 400 before any view
runs, so it changes nothing. The machine endpoints are exempt: the webhook receivers
authenticate each call by signature or token and carry no session, and the OAuth and health
endpoints only answer GETs. So is a JSON API request with an API token
(``Authorization: Bearer …``, `bearer_token`): it is signed in by that header alone, never by
the cookie, and a page of another site cannot make a browser send such a header.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, Response, abort, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from socialbridge.config import Settings

# Called by machines, not people: no sign-in, no CSRF token (see the module's docstring).
MACHINE_BLUEPRINTS = frozenset({"webhooks", "ghl_webhooks", "oauth", "health", "metrics"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
API_PREFIX = "/api/"
BEARER = "bearer "
_CSRF_SESSION_KEY = "csrf"

# No inline script anywhere (script-src without 'unsafe-inline'), styles from our own files,
# no framing (clickjacking), forms only back to us, no <base> or plugins to hijack.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # For browsers that predate frame-ancestors.
    "X-Frame-Options": "DENY",
}


def init_app(app: Flask, settings: Settings) -> None:
    """Cookie flags, proxy handling, the CSRF check and the headers, on ``app``."""
    app.config.update(
        SESSION_COOKIE_NAME="socialbridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_hours),
    )
    if settings.trusted_proxy_count:
        # Each trusted proxy appends one address to X-Forwarded-For: believe that many from
        # the right, no more, or a client could write its own address there.
        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )
    app.before_request(check_csrf)
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["csrf_field"] = CSRF_FIELD


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(_CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[_CSRF_SESSION_KEY] = token
    return token


def new_csrf_token() -> str:
    """Replace the session's CSRF token (at sign-in: a token seen before it is worthless)."""
    session.pop(_CSRF_SESSION_KEY, None)
    return csrf_token()


def bearer_token() -> str | None:
    """The API token of a JSON API request (``Authorization: Bearer <token>``), else None.

    Only under /api/: a page never signs in with a token (it would skip the CSRF check)."""
    if not request.path.startswith(API_PREFIX):
        return None
    header = request.headers.get("Authorization", "")
    if header[: len(BEARER)].lower() != BEARER:
        return None
    return header[len(BEARER) :].strip()


def check_csrf() -> None:
    """400 for a state-changing request to a console endpoint without the session's token."""
    if (
        request.method in SAFE_METHODS
        or request.blueprint in MACHINE_BLUEPRINTS
        # Signed in by its header, not by a cookie: nothing another site could forge.
        or bearer_token() is not None
        # No such page or method: its 404 or 405 says more than a 400 would.
        or request.routing_exception is not None
    ):
        return
    expected = session.get(_CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if (
        not isinstance(expected, str)
        or not expected
        or not sent
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        abort(400, description="Missing or wrong CSRF token: reload the page and try again.")


def add_security_headers(response: Response) -> Response:
    """The security headers, on every response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
