"""The sandbox's OAuth 2.0 authorization server: codes, single-use refresh tokens, scopes.

It behaves as HighLevel's marketplace apps do, as far as `apps/oauth.json` and GHL's docs tell:

- An authorization code (from the chooselocation page) is single-use, lives `CODE_SECONDS`, and
  is bound to the client, the redirect URI, the scopes and what was chosen: one location
  (`userType` Location) or the agency with every location it has (`userType` Company).
- `POST /oauth/token` trades a code, or a refresh token, for a new pair. Refresh tokens are
  single-use: every refresh returns a new pair and the old refresh token dies, so a second use
  is `invalid_grant` (and counted, which is what rotation-safety tests look at). The access
  tokens already issued stay valid until they expire, as a JWT would.
- An agency (Company) token with `oauth.write` mints location tokens (`POST /oauth/locationToken`)
  for the locations it was approved for.
- Access tokens expire after `access_token_seconds` (changeable while running, so tests can make
  them expire at once); a revoked location loses every token it had.

Tokens are random strings, not JWTs: clients must treat them as opaque anyway. Nothing here
speaks HTTP: `app.py` maps `OAuthError` to answers. Counts and fingerprints (never the tokens)
are what `summary()` tells, for the admin API. The clock is injectable so expiry is testable
without sleeping.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - public, valid only in the sandbox
SANDBOX_APP_ID = "sandboxapp0000000001"
"""The marketplace app of the default client (`appId` of its tokens and app webhooks)."""
SANDBOX_COMPANY_ID = "comp_sandbox"
"""The agency every sandbox location belongs to."""
SANDBOX_USER_ID = "user_sandbox"
"""The user who approves installs on the chooselocation page."""

DEFAULT_ACCESS_TOKEN_SECONDS = 86_400
CODE_SECONDS = 60

SCOPE_TAGS = "socialplanner/tag.readonly"
SCOPE_STATISTICS = "socialplanner/statistics.readonly"
SCOPE_ACCOUNTS = "socialplanner/account.readonly"
SCOPE_POSTS = "socialplanner/post.readonly"
SCOPE_LOCATION_TOKEN = "oauth.write"  # noqa: S105 - a scope name
SOCIAL_PLANNER_SCOPES = (SCOPE_TAGS, SCOPE_STATISTICS, SCOPE_ACCOUNTS, SCOPE_POSTS)

USER_TYPE_LOCATION = "Location"
USER_TYPE_COMPANY = "Company"

INVALID_TOKEN_MESSAGE = "Invalid JWT"  # noqa: S105 - an error message
SCOPE_MESSAGE = "The token is not authorized for this scope."
AUTH_CLASS_MESSAGE = (
    "This authClass type is not allowed to access this scope. "
    "Please reach out to the Platform team to get it added."
)

_FINGERPRINT_CHARS = 12


class OAuthError(Exception):
    """A refused OAuth request: HTTP status, OAuth `error` code and a readable description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(status, error, description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class OAuthClient:
    """A registered marketplace app: its credentials and the redirect URIs it may use."""

    client_id: str
    client_secret: str
    app_id: str
    redirect_uris: tuple[str, ...] = ()
    """Empty: any http(s) URI (the default client, so `make run` works on any port)."""

    def allows(self, redirect_uri: str) -> bool:
        if self.redirect_uris:
            return redirect_uri in self.redirect_uris
        return redirect_uri.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Grant:
    """What a token (or a code) stands for: who approved what, for which location or agency."""

    client_id: str
    user_type: str
    company_id: str
    location_id: str | None
    scopes: tuple[str, ...]
    approved_locations: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


@dataclass(frozen=True)
class _Code:
    grant: Grant
    redirect_uri: str
    expires_at: float


@dataclass(frozen=True)
class _AccessToken:
    grant: Grant
    expires_at: float


@dataclass
class _RefreshToken:
    grant: Grant
    state: str = "live"
    """live, used (rotated away: a second use is a reuse) or revoked."""


@dataclass(frozen=True)
class TokenAccess:
    """What an access token presented on an API call may do."""

    user_type: str
    company_id: str
    location_id: str | None
    scopes: frozenset[str]


@dataclass
class _State:
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, _AccessToken] = field(default_factory=dict)
    refresh: dict[str, _RefreshToken] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


class OAuthServer:
    """The authorization state of one sandbox server. Thread-safe."""

    def __init__(
        self,
        *,
        location_ids: Callable[[], Collection[str]],
        access_token_seconds: float = DEFAULT_ACCESS_TOKEN_SECONDS,
        company_id: str = SANDBOX_COMPANY_ID,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._location_ids = location_ids
        self._company_id = company_id
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _State()
        self._clients: dict[str, OAuthClient] = {}
        self.access_token_seconds = _checked_lifetime(access_token_seconds)
        self.register_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, app_id=SANDBOX_APP_ID)

    @property
    def company_id(self) -> str:
        return self._company_id

    # -- clients ---------------------------------------------------------------------------

    def register_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        app_id: str | None = None,
        redirect_uris: Collection[str] = (),
    ) -> OAuthClient:
        """Register (or replace) a client; its app id defaults to one derived from its id."""
        client = OAuthClient(
            client_id=client_id,
            client_secret=client_secret,
            app_id=app_id or hashlib.sha256(client_id.encode()).hexdigest()[:24],
            redirect_uris=tuple(redirect_uris),
        )
        with self._lock:
            self._clients[client_id] = client
        return client

    def client(self, client_id: str) -> OAuthClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def set_access_token_seconds(self, seconds: float) -> None:
        """Lifetime of the access tokens issued from now on (those issued keep theirs)."""
        self.access_token_seconds = _checked_lifetime(seconds)

    # -- authorization codes -------------------------------------------------------------

    def authorize(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scope: str,
        location_id: str | None,
    ) -> str:
        """A code for one location, or for the agency and all its locations (location None)."""
        client = self.client(client_id)
        if client is None:
            raise OAuthError(HTTPStatus.BAD_REQUEST, "invalid_client", "Unknown client_id")
        if not client.allows(redirect_uri):
            raise OAuthError(
                HTTPStatus.BAD_REQUEST,
                "invalid_request",
                "redirect_uri is not registered for this client",
            )
        locations = tuple(sorted(self._location_ids()))
        if location_id is not None and location_id not in locations:
            raise OAuthError(HTTPStatus.BAD_REQUEST, "invalid_request", "Unknown location")
        grant = Grant(
            client_id=client_id,
            user_type=USER_TYPE_COMPANY if location_id is None else USER_TYPE_LOCATION,
            company_id=self._company_id,
            location_id=location_id,
            scopes=tuple(dict.fromkeys(scope.split())),
            approved_locations=locations if location_id is None else (),
        )
        code = _new_secret("sbx-code")
        with self._lock:
            self._state.codes[code] = _Code(
                grant=grant, redirect_uri=redirect_uri, expires_at=self._clock() + CODE_SECONDS
            )
            self._state.counts["codes_issued"] += 1
        return code

    # -- POST /oauth/token ------------------------------------------------------------------

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a token request (its fields already checked against the spec)."""
        with self._lock:
            self._state.counts["token_calls"] += 1
            client = self._clients.get(form.get("client_id", ""))
            if client is None or not secrets.compare_digest(
                client.client_secret, form.get("client_secret", "")
            ):
                self._state.counts["invalid_client"] += 1
                raise OAuthError(
                    HTTPStatus.UNAUTHORIZED, "invalid_client", "Invalid client credentials"
                )
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                grant = self._redeem_code(client, form)
            elif grant_type == "refresh_token":
                grant = self._rotate_refresh_token(client, form)
            else:
                raise OAuthError(
                    HTTPStatus.BAD_REQUEST,
                    "unsupported_grant_type",
                    f"grant_type {grant_type} is not supported for this app",
                )
            return self._issue(grant, client)

    def _redeem_code(self, client: OAuthClient, form: Mapping[str, str]) -> Grant:
        raw = form.get("code")
        if not raw:
            raise OAuthError(HTTPStatus.BAD_REQUEST, "invalid_request", "code is required")
        # Popped on any attempt: a code that was tried once cannot be tried again.
        code = self._state.codes.pop(raw, None)
        if code is None:
            self._state.counts["invalid_codes"] += 1
            raise OAuthError(
                HTTPStatus.BAD_REQUEST, "invalid_grant", "Invalid grant: code is invalid or used"
            )
        if code.expires_at <= self._clock():
            self._state.counts["invalid_codes"] += 1
            raise OAuthError(HTTPStatus.BAD_REQUEST, "invalid_grant", "Invalid grant: code expired")
        if code.grant.client_id != client.client_id:
            self._state.counts["invalid_codes"] += 1
            raise OAuthError(
                HTTPStatus.BAD_REQUEST,
                "invalid_grant",
                "Invalid grant: code was issued to another client",
            )
        if form.get("redirect_uri", code.redirect_uri) != code.redirect_uri:
            self._state.counts["invalid_codes"] += 1
            raise OAuthError(
                HTTPStatus.BAD_REQUEST,
                "invalid_grant",
                "Invalid grant: redirect_uri does not match the authorization",
            )
        _check_user_type(form, code.grant)
        self._state.counts["authorization_code_grants"] += 1
        return code.grant

    def _rotate_refresh_token(self, client: OAuthClient, form: Mapping[str, str]) -> Grant:
        raw = form.get("refresh_token")
        if not raw:
            raise OAuthError(HTTPStatus.BAD_REQUEST, "invalid_request", "refresh_token is required")
        record = self._state.refresh.get(raw)
        if record is None:
            self._state.counts["unknown_refresh_tokens"] += 1
        elif record.state == "used":
            self._state.counts["refresh_reuses"] += 1
        elif record.state == "revoked":
            self._state.counts["revoked_refresh_tokens"] += 1
        if record is None or record.state != "live":
            raise OAuthError(
                HTTPStatus.BAD_REQUEST,
                "invalid_grant",
                "Invalid grant: refresh token is invalid",
            )
        if record.grant.client_id != client.client_id:
            raise OAuthError(
                HTTPStatus.BAD_REQUEST,
                "invalid_grant",
                "Invalid grant: refresh token was issued to another client",
            )
        _check_user_type(form, record.grant)
        record.state = "used"
        self._state.counts["refresh_grants"] += 1
        return record.grant

    def _issue(self, grant: Grant, client: OAuthClient) -> dict[str, Any]:
        """A new access and refresh token pair, in the spec's token answer (lock held)."""
        access_token, refresh_token = self._new_pair(grant)
        answer: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
            "refresh_token": refresh_token,
            "scope": grant.scope,
            "userType": grant.user_type,
            "companyId": grant.company_id,
            "userId": SANDBOX_USER_ID,
            "isBulkInstallation": grant.user_type == USER_TYPE_COMPANY,
        }
        if grant.location_id is not None:
            answer["locationId"] = grant.location_id
        else:
            answer["approvedLocations"] = list(grant.approved_locations)
            answer["approveAllLocations"] = True
            answer["installToFutureLocations"] = False
        return answer

    def _new_pair(self, grant: Grant) -> tuple[str, str]:
        access_token = _new_secret("sbx-at")
        refresh_token = _new_secret("sbx-rt")
        expires_at = self._clock() + self.access_token_seconds
        self._state.access[access_token] = _AccessToken(grant=grant, expires_at=expires_at)
        self._state.refresh[refresh_token] = _RefreshToken(grant=grant)
        self._state.counts["tokens_issued"] += 1
        return access_token, refresh_token

    # -- POST /oauth/locationToken ----------------------------------------------------------

    def location_token(self, bearer: str, *, company_id: str, location_id: str) -> dict[str, Any]:
        """A location token minted with an agency token (`bearer`), in the spec's answer."""
        with self._lock:
            self._state.counts["location_token_calls"] += 1
            access = self._live_access(bearer)
            if access is None:
                raise OAuthError(HTTPStatus.UNAUTHORIZED, "invalid_token", INVALID_TOKEN_MESSAGE)
            grant = access.grant
            if grant.user_type != USER_TYPE_COMPANY:
                raise OAuthError(HTTPStatus.UNAUTHORIZED, "invalid_token", AUTH_CLASS_MESSAGE)
            if SCOPE_LOCATION_TOKEN not in grant.scopes:
                raise OAuthError(HTTPStatus.UNAUTHORIZED, "insufficient_scope", SCOPE_MESSAGE)
            if company_id != grant.company_id:
                raise OAuthError(
                    HTTPStatus.BAD_REQUEST, "invalid_request", "The token is not for this company"
                )
            if location_id not in grant.approved_locations:
                raise OAuthError(
                    HTTPStatus.BAD_REQUEST,
                    "invalid_request",
                    "The app is not installed on this location",
                )
            location_grant = replace(
                grant, user_type=USER_TYPE_LOCATION, location_id=location_id, approved_locations=()
            )
            access_token, refresh_token = self._new_pair(location_grant)
            client = self._clients.get(grant.client_id)
            answer: dict[str, Any] = {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": self.access_token_seconds,
                "refresh_token": refresh_token,
                "scope": location_grant.scope,
                "locationId": location_id,
                "userId": SANDBOX_USER_ID,
            }
            if client is not None:
                answer["appId"] = client.app_id
            return answer

    # -- API calls -------------------------------------------------------------------------

    def access(self, token: str) -> TokenAccess | None:
        """What a presented access token may do; None if unknown, expired or revoked."""
        with self._lock:
            access = self._live_access(token)
        if access is None:
            return None
        grant = access.grant
        return TokenAccess(
            user_type=grant.user_type,
            company_id=grant.company_id,
            location_id=grant.location_id,
            scopes=frozenset(grant.scopes),
        )

    def _live_access(self, token: str) -> _AccessToken | None:
        access = self._state.access.get(token)
        if access is None:
            return None
        if access.expires_at <= self._clock():
            self._state.counts["expired_access_token_uses"] += 1
            return None
        return access

    # -- admin ---------------------------------------------------------------------------

    def revoke(self, location_id: str) -> int:
        """Kill every access and refresh token of a location; return how many there were."""
        with self._lock:
            dead = [
                token
                for token, access in self._state.access.items()
                if access.grant.location_id == location_id
            ]
            for token in dead:
                del self._state.access[token]
            revoked = len(dead)
            for record in self._state.refresh.values():
                if record.grant.location_id == location_id and record.state == "live":
                    record.state = "revoked"
                    revoked += 1
            self._state.counts["revocations"] += 1
        return revoked

    def expire(self, location_id: str) -> int:
        """Make a location's live access tokens expired now (refresh tokens stay)."""
        now = self._clock()
        with self._lock:
            expired = 0
            for token, access in list(self._state.access.items()):
                if access.grant.location_id == location_id and access.expires_at > now:
                    self._state.access[token] = replace(access, expires_at=now)
                    expired += 1
        return expired

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._state.counts)

    def clear_counts(self) -> dict[str, int]:
        """Reset the counts; return what they were."""
        with self._lock:
            counts = dict(self._state.counts)
            self._state.counts.clear()
        return counts

    def summary(self) -> dict[str, Any]:
        """Counts, settings and per-location live tokens, by fingerprint, never in clear."""
        now = self._clock()
        with self._lock:
            subjects: dict[str, dict[str, Any]] = {}

            def subject(grant: Grant) -> dict[str, Any]:
                key = grant.location_id or f"company:{grant.company_id}"
                return subjects.setdefault(
                    key,
                    {
                        "user_type": grant.user_type,
                        "company_id": grant.company_id,
                        "live_access_tokens": 0,
                        "live_refresh_tokens": [],
                        "scopes": [],
                        "expires_at": None,
                    },
                )

            for access in self._state.access.values():
                if access.expires_at > now:
                    entry = subject(access.grant)
                    entry["live_access_tokens"] += 1
                    entry["scopes"] = list(access.grant.scopes)
                    entry["expires_at"] = max(entry["expires_at"] or 0.0, access.expires_at)
            for token, record in self._state.refresh.items():
                if record.state == "live":
                    subject(record.grant)["live_refresh_tokens"].append(fingerprint(token))
            return {
                "access_token_seconds": self.access_token_seconds,
                "clients": sorted(self._clients),
                "counts": dict(self._state.counts),
                "subjects": subjects,
            }


def fingerprint(value: str) -> str:
    """A short SHA-256 of a token: enough to tell tokens apart, useless to call with."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:_FINGERPRINT_CHARS]


def _new_secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(24)}"


def _check_user_type(form: Mapping[str, str], grant: Grant) -> None:
    user_type = form.get("user_type")
    if user_type is not None and user_type != grant.user_type:
        raise OAuthError(
            HTTPStatus.BAD_REQUEST,
            "invalid_grant",
            f"Invalid grant: user_type {user_type} does not match the {grant.user_type} install",
        )


def _checked_lifetime(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError("access_token_seconds: expected a number of seconds, 0 or more")
    return seconds
