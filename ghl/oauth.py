"""GHLOAuth: HighLevel's OAuth 2.0 token endpoints, for the install and the refreshes.

    authorize_url()   the marketplace page where a user chooses and approves a location
    exchange_code()   POST /oauth/token  grant_type=authorization_code  -> TokenGrant
    refresh()         POST /oauth/token  grant_type=refresh_token       -> TokenGrant
    location_token()  POST /oauth/locationToken (an agency token)       -> TokenGrant

Requests are form-encoded with exactly the fields of `apps/oauth.json`. Refresh tokens are
single-use: every refresh answers a new pair and kills the refresh token sent, so a second use
is `invalid_grant`. Keeping one refresh per connection at a time is the token keeper's job;
this module only speaks the protocol, once per call, and never retries (a retried refresh
whose first answer was lost would be refused anyway).

Errors are our tree (`ghl.errors.error_for_oauth_status`): a refused grant is an
`OAuthGrantError` with its OAuth code (`invalid_grant`, `invalid_client`, …); 5xx, 429, network
failures and timeouts a `RetryableError`; anything else a `PermanentError` or, for a bad agency
token, an `AuthError`. Codes, tokens and the client secret never reach a message, a log line or
a repr.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from ghl.endpoints import OAUTH_LOCATION_TOKEN, OAUTH_SCOPES, OAUTH_TOKEN, Endpoint
from ghl.errors import (
    error_for_exception,
    error_for_invalid_body,
    error_for_oauth_status,
    error_for_unreadable_body,
    json_or_none,
    trace_id_of,
)
from socialbridge.config import Settings
from socialbridge.errors import IntegrationError
from socialbridge.logs import get_logger

log = get_logger(__name__)

USER_TYPE_LOCATION = "Location"
USER_TYPE_COMPANY = "Company"
USER_TYPES = (USER_TYPE_LOCATION, USER_TYPE_COMPANY)

GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint answered: a token pair and what it is for.

    `refresh_token` is empty only when GHL sent none (its file does not promise one for
    `/oauth/locationToken`; such a token is minted again from the agency token instead).
    `approved_locations` lists, for an agency (Company) grant, the locations it may mint
    location tokens for, when GHL tells.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    """Aware UTC: `expires_in` counted from the moment the request was sent."""
    scopes: tuple[str, ...]
    user_type: str
    location_id: str | None
    company_id: str | None
    user_id: str | None
    approved_locations: tuple[str, ...] = ()


class _TokenAnswerSchema(Schema):
    """`GetAccessCodeSuccessfulResponseDto` and `GetLocationAccessTokenSuccessfulResponseDto`."""

    class Meta:
        unknown = EXCLUDE

    access_token = fields.String(required=True, validate=validate.Length(min=1))
    refresh_token = fields.String(load_default="")
    expires_in = fields.Float(required=True, validate=validate.Range(min=0))
    scope = fields.String(load_default="")
    user_type = fields.String(load_default=None, allow_none=True, data_key="userType")
    location_id = fields.String(load_default=None, allow_none=True, data_key="locationId")
    company_id = fields.String(load_default=None, allow_none=True, data_key="companyId")
    user_id = fields.String(load_default=None, allow_none=True, data_key="userId")
    approved_locations = fields.List(
        fields.String(), load_default=list, data_key="approvedLocations"
    )


_TOKEN_ANSWER = _TokenAnswerSchema()


class GHLOAuth:
    """HighLevel's OAuth 2.0 token endpoints for one marketplace app (client id and secret)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Use `http` (its base URL and timeout); `close()` leaves it open.

        `clock` (aware UTC) is when a request is sent, the start of a token's lifetime.
        """
        _check_credentials(client_id, client_secret)
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock or _utc_now
        self._owns_http = False

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> GHLOAuth:
        """A client for `GHL_CLIENT_ID` and `GHL_CLIENT_SECRET` at `GHL_BASE_URL`.

        Raises ValueError naming the setting that is missing. `close()` closes its httpx.Client.
        """
        _check_credentials(settings.ghl_client_id, settings.ghl_client_secret)
        http = httpx.Client(
            base_url=settings.ghl_base_url, timeout=settings.ghl_timeout, transport=transport
        )
        oauth = cls(
            http, client_id=settings.ghl_client_id, client_secret=settings.ghl_client_secret
        )
        oauth._owns_http = True
        return oauth

    def __repr__(self) -> str:
        # Spelled out so that the secret can never reach a log or a traceback through repr().
        return f"GHLOAuth(base_url={str(self._http.base_url)!r}, client_id={self._client_id!r})"

    def close(self) -> None:
        """Close the httpx.Client if this client created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GHLOAuth:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the install page --------------------------------------------------------------------

    def authorize_url(
        self,
        *,
        authorize_url: str,
        redirect_uri: str,
        state: str,
        scopes: Sequence[str] = OAUTH_SCOPES,
    ) -> str:
        """Where to send the user to install the app: `authorize_url` with the OAuth query.

        `response_type=code`, this client's id, `redirect_uri`, the `scopes` (space-separated)
        and `state` are added to any query `authorize_url` already has.
        """
        if not redirect_uri.startswith(("http://", "https://")):
            raise ValueError(f"redirect_uri: expected an http(s) URL, got {redirect_uri!r}")
        if not state:
            raise ValueError("state must not be empty")
        if isinstance(scopes, str):
            raise TypeError("scopes: expected a sequence of scopes, got a single string")
        if not scopes or not all(scopes):
            raise ValueError("scopes: expected at least one scope, none empty")
        parts = urlsplit(authorize_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += [
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("client_id", self._client_id),
            ("scope", " ".join(scopes)),
            ("state", state),
        ]
        # %20 rather than "+" between scopes: both are allowed, %20 is read the same everywhere.
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    # -- POST /oauth/token -------------------------------------------------------------------

    def exchange_code(
        self, code: str, *, redirect_uri: str, user_type: str = USER_TYPE_LOCATION
    ) -> TokenGrant:
        """The token pair an authorization code (from the install's redirect) stands for.

        `redirect_uri` must be the one the install was started with.
        """
        _check_user_type(user_type)
        if not code:
            raise ValueError("code must not be empty")
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "grant_type": GRANT_AUTHORIZATION_CODE,
            "code": code,
            "user_type": user_type,
            "redirect_uri": redirect_uri,
        }
        return self._token_call(
            OAUTH_TOKEN,
            form,
            secrets=(code,),
            user_type=user_type,
            log_fields={"grant_type": GRANT_AUTHORIZATION_CODE, "user_type": user_type},
        )

    def refresh(self, refresh_token: str, *, user_type: str = USER_TYPE_LOCATION) -> TokenGrant:
        """A new pair for `refresh_token`, which GHL then kills (a second use: invalid_grant)."""
        _check_user_type(user_type)
        if not refresh_token:
            raise ValueError("refresh_token must not be empty")
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "grant_type": GRANT_REFRESH_TOKEN,
            "refresh_token": refresh_token,
            "user_type": user_type,
        }
        return self._token_call(
            OAUTH_TOKEN,
            form,
            secrets=(refresh_token,),
            user_type=user_type,
            log_fields={"grant_type": GRANT_REFRESH_TOKEN, "user_type": user_type},
        )

    # -- POST /oauth/locationToken -----------------------------------------------------------

    def location_token(self, agency_token: str, *, company_id: str, location_id: str) -> TokenGrant:
        """A location's token pair, minted with an agency (Company) access token.

        The agency token needs the `oauth.write` scope (else ScopeError) and the app must be
        installed on the location (else OAuthGrantError `invalid_request`).
        """
        if not agency_token:
            raise ValueError("agency_token must not be empty")
        if not company_id or not location_id:
            raise ValueError("company_id and location_id must not be empty")
        form = {"companyId": company_id, "locationId": location_id}
        headers = {
            "Authorization": f"Bearer {agency_token}",
            "Version": OAUTH_LOCATION_TOKEN.version,
        }
        return self._token_call(
            OAUTH_LOCATION_TOKEN,
            form,
            secrets=(agency_token,),
            headers=headers,
            user_type=USER_TYPE_LOCATION,
            log_fields={"company_id": company_id, "location_id": location_id},
        )

    # -- one call ----------------------------------------------------------------------------

    def _token_call(
        self,
        endpoint: Endpoint,
        form: Mapping[str, str],
        *,
        secrets: Sequence[str],
        user_type: str,
        log_fields: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> TokenGrant:
        """POST `form` to `endpoint`, log it without secrets, and return the grant it answers."""
        path = endpoint.path()
        what = f"{endpoint.method} {path}"
        asked_at = self._clock()
        started = time.perf_counter()
        try:
            response = self._http.request(
                endpoint.method,
                path,
                data=dict(form),
                headers={"Accept": "application/json", **(headers or {})},
            )
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            log.warning(
                "ghl.oauth",
                operation=endpoint.operation_id,
                status=None,
                elapsed_ms=_elapsed_ms(started),
                error=type(exc).__name__,
                **log_fields,
            )
            # Not chained: the httpx exception holds the request, and with it the credentials.
            raise error_for_exception(exc, what=what) from None

        body = json_or_none(response)
        trace_id = trace_id_of(response.headers, body)
        line = {
            "operation": endpoint.operation_id,
            "status": response.status_code,
            "elapsed_ms": _elapsed_ms(started),
            "trace_id": trace_id,
            **log_fields,
        }
        try:
            grant = self._grant_of(
                endpoint,
                response,
                body,
                user_type=user_type,
                asked_at=asked_at,
                redact=(*secrets, self._client_secret),
            )
        except IntegrationError as error:
            log.warning("ghl.oauth", error=getattr(error, "error", type(error).__name__), **line)
            raise
        log.info(
            "ghl.oauth",
            granted_user_type=grant.user_type,
            granted_location_id=grant.location_id,
            granted_company_id=grant.company_id,
            scopes=" ".join(grant.scopes),
            expires_at=grant.expires_at.isoformat(),
            **line,
        )
        return grant

    def _grant_of(
        self,
        endpoint: Endpoint,
        response: httpx.Response,
        body: Any,
        *,
        user_type: str,
        asked_at: datetime,
        redact: Sequence[str],
    ) -> TokenGrant:
        """The grant a token answer holds, or our error for a refusal or an unusable answer.

        `redact`: the credentials that were sent, kept out of any message built from the answer.
        """
        trace_id = trace_id_of(response.headers, body)
        if not response.is_success:
            raise error_for_oauth_status(
                response.status_code,
                response.headers,
                body,
                reason=response.reason_phrase,
                scope=endpoint.scope,
                what=f"{endpoint.method} {endpoint.path()}",
                # The token endpoint authenticates the client alone (no bearer token is sent).
                client_authenticated=endpoint is OAUTH_TOKEN,
                redact=redact,
            )
        if body is None:
            raise error_for_unreadable_body(response, trace_id=trace_id)
        try:
            answer = _TOKEN_ANSWER.load(body)
        except ValidationError as exc:
            raise error_for_invalid_body(
                exc, what="token", status=response.status_code, trace_id=trace_id
            ) from None
        if endpoint is OAUTH_TOKEN and not answer["refresh_token"]:
            # Without it the connection dies with its access token: refuse the answer now.
            raise error_for_invalid_body(
                ValidationError({"refresh_token": ["Missing data for required field."]}),
                what="token",
                status=response.status_code,
                trace_id=trace_id,
            )
        return _grant(answer, asked_at=asked_at, user_type=user_type)


def _grant(answer: Mapping[str, Any], *, asked_at: datetime, user_type: str) -> TokenGrant:
    return TokenGrant(
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
        expires_at=asked_at + timedelta(seconds=answer["expires_in"]),
        scopes=tuple(dict.fromkeys(answer["scope"].split())),
        user_type=answer["user_type"] or user_type,
        location_id=answer["location_id"] or None,
        company_id=answer["company_id"] or None,
        user_id=answer["user_id"] or None,
        approved_locations=tuple(answer["approved_locations"]),
    )


def _check_credentials(client_id: str, client_secret: str) -> None:
    if not client_id:
        raise ValueError("GHL_CLIENT_ID is not set: the client id of your GHL marketplace app")
    if not client_secret:
        raise ValueError(
            "GHL_CLIENT_SECRET is not set: the client secret of your GHL marketplace app"
        )


def _check_user_type(user_type: str) -> None:
    if user_type not in USER_TYPES:
        raise ValueError(f"user_type: expected one of {', '.join(USER_TYPES)}, got {user_type!r}")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
