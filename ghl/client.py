"""GHLClient: the one class that talks to HighLevel's Social Planner API.

Built on an injected `httpx.Client` (base URL, timeout, transport), it sends requests that
validate against the official OpenAPI files, returns the dataclasses of `schemas.ghl`, and
raises only our own errors (see `ghl.errors`), never httpx's. It does not retry: retries go
through the task queue, with the delay carried by `RetryableError.retry_after`.

Each request carries the `Version` of its endpoint (`ghl.endpoints`): statistics of a date
range are asked in v3, everything else in 2021-07-28. Nothing else chooses a version.

The access token is a plain string (a Private Integration token: a 401 is an AuthError at
once) or a `TokenSource` (an OAuth connection). With a source, a 401 that is not a scope
refusal asks it once for a newer token and repeats the request once with it, whatever the
stored expiry said: GHL may revoke or expire a token early, and another process may already
have rotated it. A second 401 is an AuthError; nothing is refreshed twice for one request.

With a rate-limit `Gate` (`ghl.limiter`), every request first takes a slot of its location's
limit (every endpoint names the location, in its path or its `locationId` query), and every
answer brings the limiter up to date with GHL's `X-RateLimit-*` headers. The gate may wait for
a slot or raise `RateLimitDeferred`. A 429 stays a RetryableError, as without the gate; the gate
has then blocked the location until its Retry-After, so the retry's requests wait for it. GHL's
token endpoint is not counted per location: `ghl.oauth` calls it without the gate.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx
from marshmallow import ValidationError

from ghl import endpoints
from ghl.endpoints import Endpoint
from ghl.errors import (
    SYSTEM,
    error_for_exception,
    error_for_invalid_body,
    error_for_response,
    error_for_unreadable_body,
    ghl_message,
    is_scope_refusal,
    json_or_none,
    trace_id_of,
)
from ghl.limiter import Gate
from ghl.ratelimit import parse_rate_limit
from schemas.ghl import (
    Account,
    Post,
    Statistics,
    Tag,
    load_accounts,
    load_post,
    load_statistics,
    load_tag_details,
    load_tags_page,
)
from socialbridge import metrics
from socialbridge.config import Settings
from socialbridge.errors import AuthError
from socialbridge.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")

MAX_STATISTICS_PROFILES = 100  # the statistics endpoint's documented maximum per request


class TokenSource(Protocol):
    """Where a GHLClient gets the access token of an OAuth connection, and a newer one.

    Implemented by the token keeper (single-flight refresh across processes); the client only
    ever asks for the current token and, after a 401, for a newer one.
    """

    def current(self) -> str:
        """The access token to use now."""
        ...

    def refresh(self, rejected: str) -> str | None:
        """A newer access token after GHL refused `rejected`, or None when none can be had.

        May raise AuthError (OAuthGrantError, …) or RetryableError; the client lets them
        through unchanged.
        """
        ...


class _FixedToken:
    """A Private Integration token (or any token given as a string): it never changes."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "_FixedToken(***)"

    def current(self) -> str:
        return self._token

    def refresh(self, rejected: str) -> str | None:
        return None


class GHLClient:
    """HighLevel's Social Planner API for one access token (one location, or an agency).

    One client per event run, used by that run's thread only (its token source and gate are
    the run's). What the threads of a worker share is below it: the httpx transport's
    connection pool (thread-safe, workers/services.py) and the Redis rate limiter.
    """

    def __init__(
        self, http: httpx.Client, *, token: str | TokenSource, limiter: Gate | None = None
    ) -> None:
        """Use `http` (its base URL and timeout) with `token`; `close()` leaves `http` open.

        `token` is a fixed access token, or a `TokenSource` asked before every request.
        `limiter` gives every request a slot of its location's rate limit (None: none).
        """
        if isinstance(token, str) and not token:
            raise ValueError("token must not be empty")
        # A fixed token cannot be refreshed: a 401 is the AuthError at once, as it always was.
        self._refreshable = not isinstance(token, str)
        self._source: TokenSource = _FixedToken(token) if isinstance(token, str) else token
        self._http = http
        self._owns_http = False
        self._limiter = limiter

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        token: str | TokenSource,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: Gate | None = None,
    ) -> GHLClient:
        """A client with its own httpx.Client configured from settings; `close()` closes it."""
        http = httpx.Client(
            base_url=settings.ghl_base_url,
            timeout=settings.ghl_timeout,
            transport=transport,
        )
        client = cls(http, token=token, limiter=limiter)
        client._owns_http = True
        return client

    def __repr__(self) -> str:
        # Spelled out so that the token can never reach a log or a traceback through repr().
        return f"GHLClient(base_url={str(self._http.base_url)!r})"

    def close(self) -> None:
        """Close the httpx.Client if this client created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GHLClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the API -----------------------------------------------------------------------------

    def list_tags(self, location_id: str, *, page_size: int = 100) -> list[Tag]:
        """Every tag of the location, reading pages of `page_size` with `limit`/`skip`.

        Stops at a short page, or once GHL's `count` (when it is larger than one page, and so
        a total) is reached. A page that brings no new tag also stops the walk, so a server
        ignoring `skip` cannot loop us forever.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        tags: list[Tag] = []
        seen: set[str] = set()
        skip = 0
        while True:
            page = self._call(
                endpoints.TAGS,
                {"locationId": location_id},
                params={"limit": str(page_size), "skip": str(skip)},
                load=load_tags_page,
                what="tags",
            )
            # The offset follows the server's pages, not our count: a tag repeated across
            # pages (the list changed during the walk) is kept once and shifts nothing.
            skip += len(page.tags)
            new = [tag for tag in page.tags if tag.id not in seen]
            seen.update(tag.id for tag in new)
            tags.extend(new)
            if len(page.tags) < page_size or not new:
                break
            total = page.count
            if total is not None and total > len(page.tags) and skip >= total:
                break
        return tags

    def tag_details(self, location_id: str, tag_ids: Sequence[str]) -> list[Tag]:
        """The full tag objects of `tag_ids` (`POST …/tags/details`, answered with 201)."""
        ids = _strings("tag_ids", tag_ids)
        if not ids:
            return []
        return self._call(
            endpoints.TAG_DETAILS,
            {"locationId": location_id},
            json={"tagIds": ids},
            load=load_tag_details,
            what="tag details",
        )

    def list_accounts(self, location_id: str) -> list[Account]:
        """The location's connected social accounts; `profile_id` is None on those without."""
        return self._call(
            endpoints.ACCOUNTS, {"locationId": location_id}, load=load_accounts, what="accounts"
        )

    def get_post(self, location_id: str, post_id: str) -> Post:
        """One Social Planner post, with the ids of its tags."""
        return self._call(
            endpoints.POST, {"locationId": location_id, "id": post_id}, load=load_post, what="post"
        )

    def statistics(
        self,
        location_id: str,
        profile_ids: Sequence[str],
        *,
        platforms: Sequence[str] | None = None,
        date_range: tuple[dt.date, dt.date] | None = None,
    ) -> Statistics:
        """Statistics of 1..100 profiles (`profileId`s from `list_accounts`); batch above that.

        Without `date_range`, GHL's default period: the last 7 days, today excluded (Version
        2021-07-28). With it (first and last day, inclusive, in UTC) the request is v3's, with
        `currentRange` covering those whole days; no comparison period is asked for.
        """
        ids = _strings("profile_ids", profile_ids)
        if not 1 <= len(ids) <= MAX_STATISTICS_PROFILES:
            raise ValueError(
                f"profile_ids: expected 1 to {MAX_STATISTICS_PROFILES} ids, got {len(ids)}"
            )
        body: dict[str, Any] = {"profileIds": ids}
        if platforms is not None:
            body["platforms"] = _strings("platforms", platforms)
        endpoint = endpoints.STATISTICS
        if date_range is not None:
            endpoint = endpoints.STATISTICS_RANGE
            body["currentRange"] = _current_range(*date_range)
        return self._call(
            endpoint,
            {},
            params={"locationId": location_id},
            json=body,
            load=load_statistics,
            what="statistics",
        )

    # -- one call ----------------------------------------------------------------------------

    def _call(
        self,
        endpoint: Endpoint,
        path_params: Mapping[str, str],
        *,
        load: Callable[[Any], T],
        what: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> T:
        """Send one request (again once after a refresh), and return its body loaded by `load`.

        Raises our error for anything but a 2xx with a body `load` accepts, and
        `RateLimitDeferred` when the rate limiter has no slot for it soon enough.
        """
        path = endpoint.path(**path_params)
        location_id = path_params.get("locationId") or (params or {}).get("locationId")
        token = self._access_token()
        response, body = self._limited_send(
            endpoint, path, token, location_id, params=params, json=json
        )
        # A scope refusal is not refreshed: a new token carries the scopes of the old one, so
        # it would only spend a refresh token and fail the same way.
        if (
            response.status_code == 401
            and self._refreshable
            and not is_scope_refusal(ghl_message(body))
        ):
            newer = self._source.refresh(token)
            if newer and newer != token:
                log.info("ghl.token_refreshed", method=endpoint.method, path=path, retry=True)
                response, body = self._limited_send(
                    endpoint, path, newer, location_id, params=params, json=json
                )
            else:
                log.warning("ghl.token_refresh_unavailable", method=endpoint.method, path=path)

        if not response.is_success:
            raise error_for_response(response, body, scope=endpoint.scope)
        trace_id = trace_id_of(response.headers, body)
        if body is None:
            raise error_for_unreadable_body(response, trace_id=trace_id)
        try:
            return load(body)
        except ValidationError as exc:
            raise error_for_invalid_body(
                exc, what=what, status=response.status_code, trace_id=trace_id
            ) from None

    def _access_token(self) -> str:
        token = self._source.current()
        if not token:
            raise AuthError("no access token to send (the connection has none)", system=SYSTEM)
        return token

    def _limited_send(
        self,
        endpoint: Endpoint,
        path: str,
        token: str,
        location_id: str | None,
        *,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> tuple[httpx.Response, Any]:
        """`_send` in a slot of the location's rate limit, the limiter told what GHL answered."""
        if self._limiter is None or not location_id:
            return self._send(endpoint, path, token, params=params, json=json)
        self._limiter.before_request(location_id)
        response, body = self._send(endpoint, path, token, params=params, json=json)
        self._limiter.after_response(location_id, response.status_code, response.headers)
        return response, body

    def _send(
        self,
        endpoint: Endpoint,
        path: str,
        token: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> tuple[httpx.Response, Any]:
        """Send one request with `token` and log it; return the answer and its JSON (or None).

        Raises our error (never httpx's) when no answer came.
        """
        started = time.perf_counter()
        try:
            response = self._http.request(
                endpoint.method,
                path,
                params=params,
                json=json,
                headers=_headers(endpoint, token),
            )
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            metrics.ghl_response(endpoint.method, endpoint.template, None)
            log.warning(
                "ghl.request",
                method=endpoint.method,
                path=path,
                version=endpoint.version,
                status=None,
                elapsed_ms=_elapsed_ms(started),
                error=type(exc).__name__,
            )
            # Not chained: the httpx exception holds the request, and with it the token.
            raise error_for_exception(exc, what=f"{endpoint.method} {path}") from None

        metrics.ghl_response(endpoint.method, endpoint.template, response.status_code)
        body = json_or_none(response)
        limits = parse_rate_limit(response.headers)
        (log.info if response.is_success else log.warning)(
            "ghl.request",
            method=endpoint.method,
            path=response.request.url.path,
            version=endpoint.version,
            status=response.status_code,
            elapsed_ms=_elapsed_ms(started),
            trace_id=trace_id_of(response.headers, body),
            rate_limit_remaining=limits.remaining,
            daily_remaining=limits.daily_remaining,
        )
        return response, body


def _headers(endpoint: Endpoint, token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Version": endpoint.version,
        "Accept": "application/json",
    }


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _strings(name: str, values: Sequence[str]) -> list[str]:
    # A lone string is a Sequence[str] too; sending its characters as ids would be a silent bug.
    if isinstance(values, str):
        raise TypeError(f"{name}: expected a sequence of strings, got a single string")
    return list(values)


def _current_range(start: dt.date, end: dt.date) -> dict[str, str]:
    """The v3 `currentRange` covering whole UTC days from `start` to `end`, both included."""
    # A datetime is a date too; only its day counts here.
    first = dt.date(start.year, start.month, start.day)
    last = dt.date(end.year, end.month, end.day)
    if first > last:
        raise ValueError(f"date_range: start {first} is after end {last}")
    return {
        "startDate": f"{first.isoformat()}T00:00:00.000Z",
        "endDate": f"{last.isoformat()}T23:59:59.999Z",
    }
