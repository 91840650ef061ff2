"""The GHL install in the browser: `/oauth/ghl/start` sends the user to GHL, the callback brings
the grant back and says what is now connected.

    GET /oauth/ghl/start?connection=con_…   a Location install of one OAuth connection
    GET /oauth/ghl/start?agency=1           a Company (agency) install: every approved location
                                            that has an OAuth connection is connected at once
    GET /oauth/ghl/callback?code=&state=    GHL's redirect after the user approved (or not)
    GET /oauth/ghl/callback?code=           the same, for an install started from GHL's
                                            marketplace page: no state (see below)

A Location install: the state names the connection; the code is exchanged (`user_type`
Location), the pair stored with `Store.save_oauth_tokens(authorized=True)`, which makes the
connection active and releases its waiting events, and those are sent to the queue in order.
A connection created with `--location-id` accepts only that location: another one is a 409
page naming both, and nothing is stored.

A Company install: the code is exchanged with `user_type` Company and the agency grant stored
(`Store.save_agency`); then, for each location GHL approved, every OAuth connection of that
location (by its location id) gets a location token of its own from `POST /oauth/locationToken`.
One pair per connection, never shared: refresh tokens are single-use, so two connections
holding one pair would kill each other's on the first refresh. Approved locations without an
OAuth connection are listed with the command that adds one; opening `?agency=1` again after
adding them connects them (an OAuth connection pinned to a location can also be installed
alone with its own install URL). The agency install asks for `oauth.write` besides the flows'
scopes: GHL mints location tokens only for an agency token that has it.

The state is signed, expires after 10 minutes and is used once (`socialbridge.oauth_state`,
`Store.use_oauth_state`), and is consumed before the code is exchanged, so a replayed callback
exchanges nothing. A state that is present but not valid is refused; it never falls back to
the marketplace install below.

A marketplace install: an install started from GHL's marketplace page (not from
`/oauth/ghl/start`) comes back with a code and no state, so nothing names the connection. The
code is exchanged as a Location install and the grant attached by the location GHL names in
its answer: to the one OAuth connection whose location id is that location (given with
`--location-id`, or set by an earlier install), exactly as the state path does it (`_connect`).
No such connection: a 404 page naming the location and the command that adds one, then its
install URL; several: a 409 page listing them, each to be installed from its own install URL
(one pair each, as above). Either way the grant is not kept. An OAuth connection created
without a location is never chosen, and the page says so when there are some. A Company code
cannot be exchanged as a Location one: GHL refuses it (the sandbox: `invalid_grant`, "user_type
Location does not match the Company install") and the code is spent by that refusal, so it
is not tried again as Company: the page sends the agency to `/oauth/ghl/start?agency=1`.

Why a callback without a state may attach a grant at all, when a state is what stops a
stranger's code from being completed here (login CSRF):

- The location is GHL's answer to our client secret, not anything the request says. A code
  is redeemed only if GHL issued it to this app, for this redirect URI, after a user with the
  right to install apps on that location approved it; anyone can send a code, but only for a
  location they can install on.
- The grant goes only to a connection already tied to that same location. Such a connection
  reads that location's data whichever of its users installed the app, so a stranger's grant
  gives it what a re-install by its owner would: a fresh pair of the same location for the
  same app (a scope it lacks is named on the page, as after any install). What a state
  prevents, tying someone's location to a connection that is not for it, cannot happen:
  connections without a location are exactly the ones a marketplace install never picks.
- Pages name only the connections of the location the caller has just proved they can
  install on. Of the connections without a location, only how many there are is said.
- A code is checked for its form (printable ASCII, at most `MAX_CODE_CHARS`) before anything
  is sent to GHL; every other unauthenticated callback costs one call to GHL's token
  endpoint, which refuses a made-up or used code (400 here). Limiting how often that can be
  asked is for the proxy in front, as for every public URL.

Every answer is an HTML page for a person, with the status that fits: 302 to GHL, 200 done or
cancelled, 400 a bad or used link or code, 404 an unknown connection (or none for the
location of a marketplace install), 409 another location (or several connections for it),
502 GHL refused or failed, 503 GHL OAuth not configured or the store unavailable. Tokens
appear in no page and no log line.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from ghl.endpoints import OAUTH_SCOPES, SCOPE_LOCATION_TOKEN
from ghl.oauth import USER_TYPE_COMPANY, USER_TYPE_LOCATION, GHLOAuth, TokenGrant
from socialbridge.errors import IntegrationError, OAuthGrantError, RetryableError
from socialbridge.logs import bind, get_logger
from socialbridge.oauth_state import (
    DEFAULT_MAX_AGE,
    EXPIRED,
    StateClaims,
    StateInvalid,
    new_state,
    read_state,
)
from socialbridge.urls import INSTALL_PATH, OAUTH_CALLBACK_PATH, install_url, oauth_redirect_uri
from store import ConnectionRecord, GhlAuth, LocationMismatch, NotFound, StoreUnavailable
from webapp import context
from webapp.inbound_auth import plain_ascii
from workers.release import enqueue_released

log = get_logger(__name__)
bp = Blueprint("oauth", __name__)

AGENCY_INSTALL = "agency"
"""What the state names instead of a connection for a Company install: never a connection id
(those start with `con_`)."""
MARKETPLACE_INSTALL = "marketplace"
"""What a callback without a state installs (in hints and log lines): never a connection id."""
AGENCY_SCOPES: tuple[str, ...] = (*OAUTH_SCOPES, SCOPE_LOCATION_TOKEN)
"""An agency install asks for `oauth.write` too, to mint the locations' tokens."""
# Connection ids are `con_` and 16 hex digits; anything far off is not looked up at all.
MAX_CONNECTION_ID = 200
# What GHL says on a refused authorization (error_description) is shown, cut to this much.
MAX_SHOWN_CHARS = 300
MAX_CODE_CHARS = 1000
"""The longest authorization code sent to GHL; GHL's are far shorter. Anything longer, or
anything but printable ASCII, was not issued by GHL and is refused without a call."""
# How GHL words the refusal of a Company code exchanged as a Location one (the sandbox:
# "user_type Location does not match the Company install").
_COMPANY_CODE = re.compile(r"user[ _]?type\b.*\bcompany\b", re.IGNORECASE | re.DOTALL)


class Problem(Exception):
    """A failure to show as a page: HTTP status, a title and what to do about it."""

    def __init__(self, status: int, title: str, message: str, hint: str | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message
        self.hint = hint


@bp.errorhandler(Problem)
def _problem(exc: Problem) -> tuple[str, int]:
    log.info("oauth.refused", status=exc.status, title=exc.title)
    return _page(exc.status, exc.title, exc.message, exc.hint)


@bp.errorhandler(StoreUnavailable)
def _store_unavailable(exc: StoreUnavailable) -> tuple[str, int]:
    log.error("store.unavailable", path=request.path, error=str(exc))
    return _page(
        503,
        "socialbridge's store is unavailable",
        "Nothing was changed. Try again in a moment.",
        "If the install came back from GHL, start it again: its link works once.",
    )


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> tuple[str, int]:
    return _page(exc.code or 500, exc.name, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    # The class only: messages of unexpected errors are not vetted for what they may hold.
    log.error("oauth.failed", path=request.path, error=type(exc).__name__, exc_info=True)
    return _page(
        500,
        "The install failed",
        f"socialbridge met an unexpected error ({type(exc).__name__}); its log has the details.",
        "Start the install again; if it fails the same way, report the log lines.",
    )


@bp.after_request
def _no_store(response: Response) -> Response:
    # Every page here carries or answers a one-time state: never cached, never a referrer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# -- GET /oauth/ghl/start ------------------------------------------------------------------


@bp.get(INSTALL_PATH)
def start() -> Any:
    """Redirect to GHL's page where the user chooses and approves the location (or agency)."""
    settings = context.settings()
    _require_oauth_settings()
    subject, scopes = _install_subject()
    state, _ = new_state(settings.require_secret_key(), subject, now=_now())
    with _oauth() as oauth:
        url = oauth.authorize_url(
            authorize_url=settings.ghl_oauth_authorize_url,
            redirect_uri=oauth_redirect_uri(settings),
            state=state,
            scopes=scopes,
        )
    log.info("oauth.start", install=subject, scopes=" ".join(scopes))
    return redirect(url, code=302)


def _install_subject() -> tuple[str, tuple[str, ...]]:
    """(connection id or AGENCY_INSTALL, scopes to ask) from the query; Problem if unusable."""
    connection_id = request.args.get("connection")
    agency = request.args.get("agency")
    usage = (
        f"Open {INSTALL_PATH}?connection=<connection id> to install one OAuth connection, or "
        f"{INSTALL_PATH}?agency=1 to install the app for an agency and connect its locations."
    )
    if connection_id is not None and agency is not None:
        raise Problem(400, "Choose one kind of install", usage)
    if agency is not None:
        if agency != "1":
            raise Problem(400, "Unknown kind of install", usage)
        return AGENCY_INSTALL, AGENCY_SCOPES
    if not connection_id:
        raise Problem(400, "Which connection?", usage)
    connection = _oauth_connection(connection_id)
    return connection.id, OAUTH_SCOPES


def _oauth_connection(connection_id: str) -> ConnectionRecord:
    """The OAuth connection with this id; Problem 404 (unknown) or 400 (a PIT connection)."""
    connection = None
    # Only a plain id is sent to the database; no connection has any other.
    if plain_ascii(connection_id) and len(connection_id) <= MAX_CONNECTION_ID:
        connection = context.services().store.get_connection(connection_id)
    if connection is None:
        raise Problem(
            404,
            "No such connection",
            f"socialbridge has no connection {connection_id!a}.",
            "List them with: socialbridge connections list. The install URL of an OAuth "
            "connection is in: socialbridge connections show CONNECTION",
        )
    if connection.ghl_auth != GhlAuth.OAUTH:
        raise Problem(
            400,
            "This connection does not use OAuth",
            f"{connection.name} ({connection.id}) uses a Private Integration token; GHL's "
            "install is for connections created with --auth oauth.",
            "Give it a new token with: socialbridge connections update "
            f"{connection.id} --ghl-token …",
        )
    return connection


# -- GET /oauth/ghl/callback -----------------------------------------------------------------


@bp.get(OAUTH_CALLBACK_PATH)
def callback() -> Any:
    """Check the state, exchange the code, store the grant, and say what is now connected."""
    settings = context.settings()
    error = request.args.get("error")
    if error is not None:
        return _declined(error)
    if not request.args.get("state"):
        code = _code(MARKETPLACE_INSTALL)
        _require_oauth_settings()
        with bind(install=MARKETPLACE_INSTALL):
            return _marketplace_install(code, oauth_redirect_uri(settings))
    claims = _claims()
    code = _code(claims.connection_id)
    _require_oauth_settings()
    # Used up before the exchange: a replayed callback exchanges nothing.
    store = context.services().store
    if not store.use_oauth_state(claims.nonce, expires_at=claims.issued_at + DEFAULT_MAX_AGE):
        raise Problem(
            400,
            "This install link was used already",
            "Each install link works once, and this one has been used.",
            _start_again_hint(claims.connection_id),
        )
    redirect_uri = oauth_redirect_uri(settings)
    if claims.connection_id == AGENCY_INSTALL:
        with bind(install=AGENCY_INSTALL):
            return _agency_install(code, redirect_uri)
    with bind(connection_id=claims.connection_id):
        return _location_install(claims.connection_id, code, redirect_uri)


def _code(subject: str) -> str:
    """The callback's authorization code; Problem 400 when there is none or it cannot be one."""
    code = request.args.get("code")
    if not code:
        raise Problem(
            400,
            "GHL sent no authorization code",
            "The address GHL sent you back to has no code in it.",
            _start_again_hint(subject),
        )
    if len(code) > MAX_CODE_CHARS or not plain_ascii(code):
        log.info("oauth.code_malformed", chars=len(code))
        raise Problem(
            400,
            "This is not an authorization code from GHL",
            "The code in the address is not of the form GHL gives; it was not sent to GHL, "
            "and nothing was stored.",
            _start_again_hint(subject),
        )
    return code


def _claims() -> StateClaims:
    """The claims of the callback's state; Problem 400 saying why it cannot be trusted."""
    settings = context.settings()
    state = request.args.get("state")
    if not state:
        raise Problem(
            400,
            "This install did not start here",
            "GHL sent an authorization without the state socialbridge gives every install, "
            "so nothing says which connection it is for. Installs started from GHL's "
            "marketplace page come back this way.",
            "Start the install from socialbridge instead: the install URL of a connection is "
            "in socialbridge connections show CONNECTION; an agency install starts at "
            f"{INSTALL_PATH}?agency=1.",
        )
    try:
        return read_state(
            settings.require_secret_key(),
            state,
            now=_now(),
            max_age=DEFAULT_MAX_AGE,
            fallback_keys=settings.fallback_secret_keys(),
        )
    except StateInvalid as exc:
        log.info("oauth.state_refused", reason=exc.reason)
        if exc.reason == EXPIRED:
            minutes = int(DEFAULT_MAX_AGE.total_seconds() // 60)
            raise Problem(
                400,
                "This install link expired",
                f"An install must be completed within {minutes} minutes of starting it.",
                "Open the install URL again.",
            ) from None
        raise Problem(
            400,
            "This install link is not valid",
            f"Its state was not issued by this socialbridge ({exc.reason}).",
            "Open the install URL again.",
        ) from None


def _declined(error: str) -> tuple[str, int]:
    """GHL's redirect with `error=…`: the user cancelled, or GHL refused the authorization."""
    subject = _claims_if_valid()
    described = _subject_text(subject)
    hint = _start_again_hint(subject.connection_id if subject else None)
    if error == "access_denied":
        log.info("oauth.cancelled", install=subject.connection_id if subject else None)
        return _page(
            200,
            "Install cancelled",
            f"The install{described} was cancelled at GHL: nothing was changed.",
            hint,
        )
    detail = request.args.get("error_description") or ""
    shown = f"{error[:MAX_SHOWN_CHARS]!a}" + (f": {detail[:MAX_SHOWN_CHARS]}" if detail else "")
    log.info("oauth.declined", error=error[:MAX_SHOWN_CHARS])
    return _page(
        502,
        "GHL did not authorize the install",
        f"GHL answered the install{described} with {shown}. Nothing was changed.",
        hint,
    )


def _claims_if_valid() -> StateClaims | None:
    try:
        return _claims()
    except Problem:
        return None


def _subject_text(claims: StateClaims | None) -> str:
    if claims is None:
        return ""
    if claims.connection_id == AGENCY_INSTALL:
        return " for the agency"
    connection = None
    if plain_ascii(claims.connection_id):
        connection = context.services().store.get_connection(claims.connection_id)
    name = connection.name if connection is not None else claims.connection_id
    return f" of {name}"


# -- a Location install ------------------------------------------------------------------------


def _location_install(connection_id: str, code: str, redirect_uri: str) -> tuple[str, int]:
    store = context.services().store
    connection = store.get_connection(connection_id)
    if connection is None:
        raise Problem(
            404,
            "The connection is gone",
            f"The connection {connection_id!a} was removed while the install was under way; "
            "nothing was stored.",
        )
    if connection.ghl_auth != GhlAuth.OAUTH:
        raise Problem(
            400,
            "This connection does not use OAuth",
            f"{connection.name} uses a Private Integration token; nothing was stored.",
        )
    with _oauth() as oauth:
        grant = _exchange(oauth, code, redirect_uri, USER_TYPE_LOCATION, connection_id)
    return _connect(connection, grant, _grant_location(grant))


def _grant_location(grant: TokenGrant) -> str:
    """The location a Location grant is for; Problem when GHL's answer names none."""
    if grant.location_id:
        return grant.location_id
    if grant.user_type == USER_TYPE_COMPANY:
        raise _agency_code_problem("GHL answered with an agency (Company) grant")
    raise Problem(
        502,
        "GHL's answer names no location",
        "GHL gave a token that is not a location's (an agency install?); nothing was stored.",
        f"For an agency install, open {INSTALL_PATH}?agency=1 instead.",
    )


def _connect(
    connection: ConnectionRecord,
    grant: TokenGrant,
    location_id: str,
    *,
    marketplace: bool = False,
) -> tuple[str, int]:
    """Store a Location grant as `connection`'s pair (authorized: it becomes active and its
    waiting events are released), send those events to the queue in order, and say so."""
    store = context.services().store
    try:
        saved, released = store.save_oauth_tokens(
            connection.id,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scopes=grant.scopes,
            location_id=location_id,
            company_id=grant.company_id,
            authorized=True,
        )
    except LocationMismatch:
        log.info("oauth.location_mismatch", expected=connection.location_id, chosen=location_id)
        raise Problem(
            409,
            "Another location was chosen",
            f"{connection.name} is for location {connection.location_id}, but the install "
            f"chose location {location_id}. Nothing was stored.",
            f"Open the install URL again and choose location {connection.location_id}; for "
            f"{location_id}, add a connection of its own (socialbridge connections add "
            f"--auth oauth --location-id {location_id} …).",
        ) from None
    except NotFound:
        raise Problem(
            404,
            "The connection is gone",
            f"{connection.name} was removed while the install was under way; nothing was stored.",
        ) from None
    enqueued = enqueue_released(context.celery(), released)
    missing = missing_scopes(saved.scopes)
    log.info(
        "oauth.installed",
        marketplace=marketplace,
        location_id=saved.location_id,
        company_id=saved.company_id,
        scopes=" ".join(saved.scopes),
        missing_scopes=" ".join(missing),
        released=len(released),
        enqueued=enqueued,
    )
    return render_template(
        "oauth_connected.html",
        connection=saved,
        scopes=saved.scopes,
        missing=missing,
        released=len(released),
        enqueued=enqueued,
        marketplace=marketplace,
    ), 200


# -- a marketplace install (no state) ---------------------------------------------------------


def _marketplace_install(code: str, redirect_uri: str) -> tuple[str, int]:
    """Exchange a code that came without a state and attach the grant by its location, to the
    one OAuth connection of that location (the module's docstring says why this is safe)."""
    store = context.services().store
    with _oauth() as oauth:
        grant = _exchange(oauth, code, redirect_uri, USER_TYPE_LOCATION, MARKETPLACE_INSTALL)
    location_id = _grant_location(grant)
    matches = store.oauth_connections(location_id=location_id)
    if len(matches) == 1:
        with bind(connection_id=matches[0].id):
            return _connect(matches[0], grant, location_id, marketplace=True)
    # Nothing of the grant is kept: GHL's tokens go out of scope here, never stored.
    unplaced = len(store.oauth_connections(location_id=""))
    log.info(
        "oauth.marketplace_unmatched",
        location_id=location_id,
        company_id=grant.company_id,
        connections=len(matches),
        without_location=unplaced,
    )
    settings = context.settings()
    return render_template(
        "oauth_marketplace.html",
        location_id=location_id,
        command=(
            "socialbridge connections add --name NAME --auth oauth "
            f"--location-id {shlex.quote(location_id)} …"
        ),
        connections=[(connection, install_url(settings, connection.id)) for connection in matches],
        without_location=unplaced,
    ), (409 if matches else 404)


def _agency_code_problem(what: str) -> Problem:
    """The page for a Company (agency) code that came where a Location one was expected."""
    settings = context.settings()
    return Problem(
        400,
        "This is an agency install",
        f"{what}: the install was approved for an agency and its locations, not for one "
        "location. socialbridge takes an agency install only when it starts at its own agency "
        "URL. GHL takes each code once and this one is used: nothing was stored.",
        f"Start the agency install from {settings.base_url}{INSTALL_PATH}?agency=1 and approve "
        "the agency's locations there; one location alone installs from its connection's "
        "install URL (socialbridge connections show CONNECTION).",
    )


# -- a Company (agency) install -----------------------------------------------------------------


@dataclass
class LocationResult:
    """What the agency install did for one approved location."""

    location_id: str
    connected: list[tuple[ConnectionRecord, int]] = field(default_factory=list)
    """Each connection connected, with how many of its waiting events were released."""
    failed: list[tuple[ConnectionRecord, str]] = field(default_factory=list)
    """Each connection not connected, with why."""


def _agency_install(code: str, redirect_uri: str) -> tuple[str, int]:
    store = context.services().store
    with _oauth() as oauth:
        grant = _exchange(oauth, code, redirect_uri, USER_TYPE_COMPANY, AGENCY_INSTALL)
        if not grant.company_id:
            raise Problem(
                502,
                "GHL's answer names no agency",
                "GHL gave a token without a company id; nothing was stored.",
                "For one location, open the install URL of its connection instead.",
            )
        store.save_agency(
            grant.company_id,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scopes=grant.scopes,
            approved_locations=grant.approved_locations,
        )
        can_mint = SCOPE_LOCATION_TOKEN in grant.scopes
        results = [
            _connect_location(oauth, grant, location_id, can_mint=can_mint)
            for location_id in dict.fromkeys(grant.approved_locations)
        ]
    missing = missing_scopes(grant.scopes, AGENCY_SCOPES)
    log.info(
        "oauth.agency_installed",
        company_id=grant.company_id,
        scopes=" ".join(grant.scopes),
        missing_scopes=" ".join(missing),
        approved=len(grant.approved_locations),
        connected=sum(len(result.connected) for result in results),
        failed=sum(len(result.failed) for result in results),
    )
    return render_template(
        "oauth_agency.html",
        company_id=grant.company_id,
        scopes=grant.scopes,
        missing=missing,
        approved=[result.location_id for result in results],
        results=[result for result in results if result.connected or result.failed],
        unmatched=[
            result.location_id for result in results if not (result.connected or result.failed)
        ],
        install_path=INSTALL_PATH,
    ), 200


def _connect_location(
    oauth: GHLOAuth, agency: TokenGrant, location_id: str, *, can_mint: bool
) -> LocationResult:
    """Mint a location token for each OAuth connection of `location_id`, and store it."""
    store = context.services().store
    result = LocationResult(location_id)
    for connection in store.oauth_connections(location_id=location_id):
        with bind(connection_id=connection.id, location_id=location_id):
            if not can_mint:
                result.failed.append((connection, f"the agency grant lacks {SCOPE_LOCATION_TOKEN}"))
                continue
            try:
                minted = oauth.location_token(
                    agency.access_token,
                    company_id=agency.company_id or "",
                    location_id=location_id,
                )
            except IntegrationError as exc:
                log.warning("oauth.location_token_failed", error=str(exc))
                result.failed.append((connection, f"no location token from GHL: {exc}"))
                continue
            if not minted.refresh_token:
                # Without one the connection would die with its access token in a day.
                result.failed.append((connection, "GHL gave no refresh token with it"))
                continue
            try:
                saved, released = store.save_oauth_tokens(
                    connection.id,
                    access_token=minted.access_token,
                    refresh_token=minted.refresh_token,
                    expires_at=minted.expires_at,
                    scopes=minted.scopes,
                    location_id=minted.location_id or location_id,
                    company_id=agency.company_id,
                    authorized=True,
                )
            except (LocationMismatch, NotFound) as exc:
                result.failed.append((connection, str(exc)))
                continue
            enqueue_released(context.celery(), released)
            result.connected.append((saved, len(released)))
            log.info("oauth.location_connected", released=len(released))
    return result


# -- helpers -------------------------------------------------------------------------------------


def _require_oauth_settings() -> None:
    """Problem 503 naming what is missing when this socialbridge has no GHL app configured."""
    settings = context.settings()
    missing = settings.missing_ghl_app_settings()
    if missing:
        raise Problem(
            503,
            "GHL OAuth is not configured",
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set, so "
            "socialbridge cannot take part in GHL's install.",
            "Set the client id and secret of your GHL marketplace app (docs/ghl-auth.md) in "
            "the environment of the web and worker processes, restart them, and open the "
            "install URL again.",
        )


@contextmanager
def _oauth() -> Iterator[GHLOAuth]:
    services = context.services()
    with GHLOAuth.from_settings(services.settings, transport=services.ghl_transport) as oauth:
        yield oauth


def _exchange(
    oauth: GHLOAuth, code: str, redirect_uri: str, user_type: str, subject: str
) -> TokenGrant:
    """The grant of `code`; Problem 400 (refused code) or 502 (GHL failed) with what to do."""
    try:
        return oauth.exchange_code(code, redirect_uri=redirect_uri, user_type=user_type)
    except OAuthGrantError as exc:
        log.info("oauth.code_refused", error=exc.error)
        if user_type == USER_TYPE_LOCATION and _COMPANY_CODE.search(str(exc)):
            # Not tried again as Company: the refusal has spent the code.
            raise _agency_code_problem("GHL refused the code as a location's") from None
        status, title = (
            (502, "GHL refused socialbridge's app credentials")
            if exc.error in ("invalid_client", "unauthorized_client")
            else (400, "GHL refused the authorization")
        )
        hint = _start_again_hint(subject)
        if status == 502:
            hint = "Check GHL_CLIENT_ID and GHL_CLIENT_SECRET against your marketplace app."
        raise Problem(status, title, f"{exc} Nothing was stored.", hint) from None
    except RetryableError as exc:
        log.warning("oauth.exchange_failed", error=str(exc))
        raise Problem(
            502,
            "GHL could not complete the install",
            f"GHL did not answer the code exchange usefully ({exc}). Nothing was stored.",
            _start_again_hint(subject),
        ) from None
    except IntegrationError as exc:
        log.warning("oauth.exchange_failed", error=str(exc))
        raise Problem(
            502,
            "GHL's answer could not be used",
            f"{exc} Nothing was stored.",
            _start_again_hint(subject),
        ) from None


def _start_again_hint(subject: str | None) -> str:
    settings = context.settings()
    if subject == MARKETPLACE_INSTALL:
        return (
            "Install the app again from GHL's marketplace page, or open the install URL of "
            "the connection (socialbridge connections show CONNECTION); an agency install "
            f"starts at {settings.base_url}{INSTALL_PATH}?agency=1."
        )
    if subject == AGENCY_INSTALL:
        return f"Start the agency install again: {settings.base_url}{INSTALL_PATH}?agency=1"
    if subject and plain_ascii(subject) and len(subject) <= MAX_CONNECTION_ID:
        return f"Start the install again: {install_url(settings, subject)}"
    return "Start the install again from its install URL (socialbridge connections show)."


def _page(status: int, title: str, message: str, hint: str | None = None) -> tuple[str, int]:
    return render_template("oauth_problem.html", title=title, message=message, hint=hint), status


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def missing_scopes(granted: Sequence[str], needed: Sequence[str] = OAUTH_SCOPES) -> list[str]:
    """The scopes of `needed` that `granted` lacks, in the order they are needed."""
    return [scope for scope in needed if scope not in granted]
