"""The sandbox HighLevel (GHL) server: the Social Planner endpoints socialbridge calls.

It answers like `services.leadconnectorhq.com` does, as far as the official files tell
(`sandbox/ghl_openapi/apps/social-media-posting.json` for Version 2021-07-28,
`apps/v3/social-planner-v3.json` for Version v3):

    Version 2021-07-28
    GET  /social-media-posting/{locationId}/tags?limit=&skip=&searchText=    200
    POST /social-media-posting/{locationId}/tags/details  {"tagIds": [...]}  201
    GET  /social-media-posting/{locationId}/accounts                          200
    GET  /social-media-posting/{locationId}/posts/{id}                        200
    POST /social-media-posting/statistics?locationId=  {"profileIds": [...]} 201 (last 7 days)
    Version v3
    POST /social-media-posting/statistics?locationId=  {"profileIds": [...],
         "currentRange"?: {startDate, endDate}, "prevRange"?: {startDate, endDate}}  200

Each operation answers only in the versions listed (any other `Version` is a 400), so a client
that speaks v3 where it meant 2021-07-28, or the reverse, fails here instead of in production.
A 2021-07-28 statistics body carrying `currentRange` or `prevRange` is refused with 422, as
GHL's whitelisting validation does, rather than silently answering the last 7 days.

Every GHL request goes through, in this order: injected faults (`/_sandbox/faults`), the
bearer token (401), the token's location against the requested one (401), the `Version`
header (400), validation against the file of that version (422, `message` a list), the
per-location rate limit (429 with `Retry-After`). Every answer carries the `X-RateLimit-*`
headers and a `traceId`; every request is journaled with the ways it departs from the file.

The admin API under `/_sandbox/` is not HighLevel's: plain JSON, never validated or journaled.

    POST   /_sandbox/faults     {"path_contains", "status"|null, "times", "delay_ms",
                                 "retry_after", "method"}  queue an injected answer or delay
    GET    /_sandbox/faults     {"faults": [...]} still pending;  DELETE: {"cleared": n}
    GET    /_sandbox/journal    [{method, path, query, headers, body, response_status,
                                  response_headers, response_body, spec_errors, trace_id}]
    DELETE /_sandbox/journal    {"cleared": n}  (the counts too)
    GET    /_sandbox/journal/counts  {"total", "rate_limited", "by_status", "by_endpoint":
                                 {"GET /social-media-posting/{location_id}/tags": {"200": n}}}
                                 every request since the last DELETE (the journal keeps
                                 only its latest 10,000)
    POST   /_sandbox/locations  {"location_id", "token", "tags", "posts"}  201 new, 200
                                 known, 409; "posts": how many posts to seed (default 5,
                                 ids post_{location without "loc_"}_1 onwards)
    GET    /_sandbox/latency    {"latency_ms"};  POST {"latency_ms": N}: every GHL answer
                                 (not the admin API's) is sent N ms late (`--latency-ms`)
    GET    /_sandbox/health     {"status": "ok", "locations": [...]}

OAuth 2.0 (`oauth.py`; the form-encoded operations of `apps/oauth.json`, validated like the rest):

    GET  /oauth/chooselocation?response_type=code&client_id&redirect_uri&scope&state  (and
         /v2/oauth/chooselocation): the marketplace's page; `&location_id=L&approve=1` (or
         `&agency=1&approve=1` for a Company install) redirects at once with `?code=&state=`
    POST /oauth/token          grant_type=authorization_code | refresh_token       200, 400, 401
    POST /oauth/locationToken  companyId, locationId; an agency token with oauth.write  200

An OAuth access token works on the Social Planner endpoints for its location, until it expires,
and only for the scopes it was granted (401 otherwise); a Private Integration token has every
scope. Admin API of OAuth and app webhooks:

    GET    /_sandbox/oauth           counts, lifetime, live tokens per location by fingerprint
    POST   /_sandbox/oauth/settings  {"access_token_seconds"}
    POST   /_sandbox/oauth/clients   {"client_id", "client_secret", "app_id"?, "redirect_uris"?}
    POST   /_sandbox/oauth/revoke    {"location_id"}  every token of the location dies
    POST   /_sandbox/oauth/expire    {"location_id"}  its access tokens expire now
    DELETE /_sandbox/oauth/counts    {"cleared": {...}}
    GET    /_sandbox/webhook-public-key   the Ed25519 public key (PEM) app webhooks are signed with
    POST   /_sandbox/app-webhooks    {"url", "type", "location_id", "company_id"?, "tamper"?,
                                      "timestamp"?, "webhook_id"?}  deliver a signed event
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from sandbox.faultqueue import FaultQueue
from sandbox.ghl import oauth
from sandbox.ghl.app_webhooks import SANDBOX_WEBHOOK_PUBLIC_KEY_PEM, AppWebhook, AppWebhookError
from sandbox.ghl.app_webhooks import deliver as deliver_app_webhook
from sandbox.ghl.faults import Fault, FaultError
from sandbox.ghl.journal import CallCounts, Journal, endpoint_template
from sandbox.ghl.oauth import OAuthError, OAuthServer
from sandbox.ghl.ratelimit import RateLimiter
from sandbox.ghl.seed import DEFAULT_TAG_COUNT, POSTS_PER_LOCATION, LocationData, seed_location
from sandbox.ghl.spec import API_VERSION, API_VERSION_V3, OAUTH_SPEC, SPEC_FILES, SpecValidator
from sandbox.ghl.stats import (
    ProfileStats,
    build_statistics,
    default_period,
    period,
    previous_period,
    profile_stats,
)
from sandbox.latency import Latency, add_latency_routes
from schemas.events import STATISTICS_MAX_DAYS  # the longest range answered: bounds a call
from socialbridge.logs import get_logger

log = get_logger(__name__)

DEFAULT_LOCATION = "loc_demo"
DEFAULT_TOKEN = "pit-sandbox-demo"  # noqa: S105 - a public demo token, valid only here
DEFAULT_TOKENS: Mapping[str, str] = {DEFAULT_TOKEN: DEFAULT_LOCATION}

ADMIN_PREFIX = "/_sandbox"
TAGS_DEFAULT_LIMIT = 10
TAGS_MAX_LIMIT = 100
"""Larger `limit`s are answered with 100 tags; a client that pages by `count` still works."""
STATISTICS_MAX_PROFILES = 100
MAX_SEEDED_TAGS = 10_000
MAX_SEEDED_POSTS = 10_000
ALL_VERSIONS = tuple(SPEC_FILES)
CHOOSE_LOCATION_PATHS = ("/oauth/chooselocation", "/v2/oauth/chooselocation")
"""The marketplace's authorize page: a browser page, outside the API's checks and journal."""
OAUTH_TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a credential
OAUTH_LOCATION_TOKEN_PATH = "/oauth/locationToken"  # noqa: S105 - a path, not a credential


class GhlErrorAnswer(Exception):
    """Raised by a view to answer a HighLevel-shaped error (`{statusCode, message, error}`)."""

    def __init__(self, status: int, message: str | list[str]) -> None:
        super().__init__(status, message)
        self.status = status
        # The spec's UnprocessableDTO has a list of messages; every other error DTO a string.
        if status == HTTPStatus.UNPROCESSABLE_ENTITY and isinstance(message, str):
            message = [message]
        self.message = message


class SandboxGHL:
    """The state of one sandbox server and its views. Shared by the server's threads."""

    def __init__(
        self,
        *,
        tokens: Mapping[str, str],
        seed: int,
        rate_limit: int,
        rate_window_seconds: float,
        access_token_seconds: float = oauth.DEFAULT_ACCESS_TOKEN_SECONDS,
        latency_ms: int = 0,
    ) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._tokens = dict(tokens)
        self._locations = {
            location_id: seed_location(location_id, seed=seed)
            for location_id in sorted(set(self._tokens.values()))
        }
        self.validators = {version: SpecValidator(version) for version in ALL_VERSIONS}
        self.versions: dict[str, tuple[str, ...]] = {}
        """The versions each view (by Flask endpoint name) answers in, the first the main one."""
        self.limiter = RateLimiter(limit=rate_limit, window_seconds=rate_window_seconds)
        self.faults: FaultQueue[Fault] = FaultQueue()
        self.journal = Journal()
        self.counts = CallCounts()
        self.latency = Latency(latency_ms)
        self.oauth = OAuthServer(
            location_ids=self.location_ids, access_token_seconds=access_token_seconds
        )
        self.oauth_validator = SpecValidator(API_VERSION, spec_file=OAUTH_SPEC)
        self.scopes: dict[str, str] = {}
        """The scope each Social Planner view (by endpoint name) needs from an OAuth token."""

    # -- state ---------------------------------------------------------------------------

    def location_of_token(self, token: str) -> str | None:
        """The location a token is valid for, or None for an unknown token."""
        with self._lock:
            return self._tokens.get(token)

    def location(self, location_id: str) -> LocationData:
        """The data of a known location (every token's location is seeded)."""
        with self._lock:
            return self._locations[location_id]

    def add_location(
        self,
        location_id: str,
        token: str,
        *,
        tag_count: int,
        post_count: int = POSTS_PER_LOCATION,
    ) -> bool:
        """Give `token` access to `location_id`, seeding the location if new (True if so)."""
        with self._lock:
            bound = self._tokens.get(token)
            if bound is not None and bound != location_id:
                raise ValueError(f"token already belongs to location {bound!r}")
            created = location_id not in self._locations
            if created:
                self._locations[location_id] = seed_location(
                    location_id, seed=self.seed, tag_count=tag_count, post_count=post_count
                )
            self._tokens[token] = location_id
        log.info("sandbox.ghl.location_added", location_id=location_id, created=created)
        return created

    def location_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._locations)

    # -- every GHL request ------------------------------------------------------------------

    def before_request(self) -> Response | None:
        """Note what the journal needs, then run the checks; an answer here ends the request."""
        if _is_admin_request() or request.path in CHOOSE_LOCATION_PATHS:
            return None
        g.trace_id = str(uuid.uuid4())
        g.rate_key = _requested_location()
        g.rate_status = None
        served = self._served_versions()
        version = request.headers.get("Version")
        # A version the operation does not speak is checked against its main file, so the
        # journal names the Version header among the ways the request departs from it.
        validator = self.validators[version if version in served else served[0]]
        if _is_oauth_request():
            validator = self.oauth_validator
        g.spec_errors = validator.request_errors(
            method=request.method,
            path=request.path,
            query=request.args.items(multi=True),
            headers=request.headers.items(),
            body=request.get_data(cache=True),
            content_type=request.content_type,
        )
        if _is_oauth_request():
            return self._oauth_refusal()
        return self._refusal()

    def _fault_refusal(self) -> Response | None:
        """The answer of an injected fault, if one matches (after its delay)."""
        fault = self.faults.take(lambda f: f.matches(request.method, request.path))
        if fault is not None:
            log.info("sandbox.ghl.fault", path=request.path, status=fault.status)
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000)
            if fault.status is not None:
                return _fault_answer(fault)
        return None

    def _oauth_refusal(self) -> Response | None:
        """The checks of the OAuth operations: faults, the spec; the views check credentials.

        `/oauth/token` carries no bearer token and no Version (the file declares none);
        `/oauth/locationToken` needs both, checked in the order of the other operations.
        """
        fault = self._fault_refusal()
        if fault is not None:
            return fault
        if request.routing_exception is not None:
            return None
        if request.path == OAUTH_LOCATION_TOKEN_PATH:
            if self.oauth.access(_bearer_token()) is None:
                return _error_answer(HTTPStatus.UNAUTHORIZED, oauth.INVALID_TOKEN_MESSAGE)
            if request.headers.get("Version") != API_VERSION:
                return _error_answer(
                    HTTPStatus.BAD_REQUEST,
                    f"Version header must be {API_VERSION} for {request.path}",
                )
        if g.spec_errors:
            return _error_answer(HTTPStatus.UNPROCESSABLE_ENTITY, list(g.spec_errors))
        return None

    def _refusal(self) -> Response | None:
        fault = self._fault_refusal()
        if fault is not None:
            return fault

        token = _bearer_token()
        token_location = self.location_of_token(token)
        granted: frozenset[str] | None = None  # None: a Private Integration token, every scope
        if token_location is None:
            access = self.oauth.access(token)
            if access is None:
                return _error_answer(HTTPStatus.UNAUTHORIZED, oauth.INVALID_TOKEN_MESSAGE)
            if access.location_id is None:
                # An agency token must mint a location token first, as on HighLevel.
                return _error_answer(HTTPStatus.UNAUTHORIZED, oauth.AUTH_CLASS_MESSAGE)
            token_location, granted = access.location_id, access.scopes
        requested = _requested_location()
        if requested is not None and requested != token_location:
            return _error_answer(
                HTTPStatus.UNAUTHORIZED, "The token does not have access to this location."
            )
        needed = self._needed_scope()
        if granted is not None and needed is not None and needed not in granted:
            return _error_answer(HTTPStatus.UNAUTHORIZED, oauth.SCOPE_MESSAGE)
        g.rate_key = token_location

        version = request.headers.get("Version")
        if version is None:
            return _error_answer(HTTPStatus.BAD_REQUEST, "Version header was not found")
        served = self._served_versions()
        if version not in served:
            return _error_answer(
                HTTPStatus.BAD_REQUEST,
                f"Version {version!r} is not supported here for {request.method} "
                f"{request.path}; send Version: {' or '.join(served)}",
            )
        if request.routing_exception is not None:
            return None  # Flask answers 404/405 through handle_http_exception.
        if g.spec_errors:
            return _error_answer(HTTPStatus.UNPROCESSABLE_ENTITY, list(g.spec_errors))

        status = self.limiter.hit(token_location)
        g.rate_status = status
        if not status.allowed:
            answer = _error_answer(
                HTTPStatus.TOO_MANY_REQUESTS, "Too many requests, please try again later."
            )
            answer.headers.update(status.headers())
            return answer
        return None

    def _needed_scope(self) -> str | None:
        if request.url_rule is None or request.url_rule.endpoint is None:
            return None
        return self.scopes.get(request.url_rule.endpoint)

    def _served_versions(self) -> tuple[str, ...]:
        """The versions the requested operation answers in (every one for an unknown path)."""
        if request.url_rule is None or request.url_rule.endpoint is None:
            return ALL_VERSIONS
        return self.versions.get(request.url_rule.endpoint, ALL_VERSIONS)

    def after_request(self, response: Response) -> Response:
        """Add the rate-limit headers, journal and count the request, then wait the latency.

        The latency comes after the rate limit counted the request (at its arrival, as GHL
        counts), so a client that paces its sends by GHL's window meets the same budget
        whatever the latency.
        """
        if _is_admin_request() or "trace_id" not in g:
            return response
        status = g.rate_status or self.limiter.peek(g.rate_key or "")
        for name, value in status.headers().items():
            # A fault or a 429 already set the headers it means; keep those.
            response.headers.setdefault(name, value)
        self.journal.record(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "trace_id": g.trace_id,
                "method": request.method,
                "path": request.path,
                "query": request.args.to_dict(),
                "headers": _journal_headers(request.headers.items()),
                "body": _journal_body(request.get_data(cache=True)),
                "response_status": response.status_code,
                "response_headers": dict(response.headers.items()),
                "response_body": _journal_answer(response.get_json(silent=True)),
                "spec_errors": list(g.spec_errors),
            }
        )
        rule = request.url_rule.rule if request.url_rule is not None else None
        self.counts.record(endpoint_template(request.method, rule), response.status_code)
        log.debug(
            "sandbox.ghl.request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            trace_id=g.trace_id,
        )
        self.latency.wait()
        return response

    # -- GHL endpoints ------------------------------------------------------------------

    def get_tags(self, location_id: str) -> tuple[Response, int]:
        """`GET /social-media-posting/{locationId}/tags`: one page of tags, and their count."""
        limit = _count_param("limit", default=TAGS_DEFAULT_LIMIT, minimum=1)
        skip = _count_param("skip", default=0, minimum=0)
        search = request.args.get("searchText", "").strip().lower()
        tags = self.location(location_id).tags
        if search:
            tags = tuple(tag for tag in tags if search in tag.name.lower())
        page = tags[skip : skip + min(limit, TAGS_MAX_LIMIT)]
        return _success(
            HTTPStatus.OK,
            "Fetched Tags by Location ID",
            {"tags": [tag.to_json() for tag in page], "count": len(tags)},
        )

    def get_tag_details(self, location_id: str) -> tuple[Response, int]:
        """`POST /social-media-posting/{locationId}/tags/details`: the tags asked for (201)."""
        body = request.get_json()
        data = self.location(location_id)
        # Unknown ids are left out, as HighLevel does; repeated ids are answered once.
        found = [data.tag(tag_id) for tag_id in dict.fromkeys(body["tagIds"])]
        tags = [tag.to_json() for tag in found if tag is not None]
        return _success(
            HTTPStatus.CREATED, "Fetched Tags by Tag IDs", {"tags": tags, "count": len(tags)}
        )

    def get_accounts(self, location_id: str) -> tuple[Response, int]:
        """`GET /social-media-posting/{locationId}/accounts`: accounts and groups."""
        data = self.location(location_id)
        return _success(
            HTTPStatus.OK,
            "Fetched Accounts",
            {
                "accounts": [account.to_json() for account in data.accounts],
                "groups": [group.to_json() for group in data.groups],
            },
        )

    def get_post(self, location_id: str, post_id: str) -> tuple[Response, int]:
        """`GET /social-media-posting/{locationId}/posts/{id}`: one post (400 if unknown)."""
        post = self.location(location_id).post(post_id)
        if post is None:
            raise GhlErrorAnswer(HTTPStatus.BAD_REQUEST, f"Post with id {post_id} not found")
        return _success(HTTPStatus.OK, "Fetched Post", {"post": post.to_json()})

    def get_statistics(self) -> tuple[Response, int]:
        """`POST /social-media-posting/statistics`: analytics of some profiles over a period.

        Version 2021-07-28 answers 201 for the last 7 days; v3 answers 200 for `currentRange`
        (the last 7 days without it), compared with `prevRange` when one is sent.
        """
        body = request.get_json(silent=True)
        # The spec makes the body optional but `profileIds` required inside it.
        if not isinstance(body, dict) or "profileIds" not in body:
            raise GhlErrorAnswer(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                ["profileIds should not be empty", "profileIds must be an array"],
            )
        profile_ids: list[str] = body["profileIds"]
        if len(profile_ids) > STATISTICS_MAX_PROFILES:
            raise GhlErrorAnswer(
                HTTPStatus.BAD_REQUEST,
                f"profileIds must contain no more than {STATISTICS_MAX_PROFILES} elements",
            )
        today = datetime.now(UTC).date()
        if request.headers["Version"] == API_VERSION_V3:
            status = HTTPStatus.OK
            days, previous = _v3_periods(body, today)
        else:
            status = HTTPStatus.CREATED
            refused = [f"property {key} should not exist" for key in _RANGE_KEYS if key in body]
            if refused:
                raise GhlErrorAnswer(HTTPStatus.UNPROCESSABLE_ENTITY, refused)
            days = default_period(today)
            previous = previous_period(days)
        platforms: list[str] | None = body.get("platforms")
        location_id = request.args["locationId"]
        accounts = {
            account.profile_id: account
            for account in self.location(location_id).accounts
            if account.profile_id is not None
        }
        # Profiles the location does not have add nothing, so batches stay additive.
        chosen = [
            accounts[profile_id]
            for profile_id in dict.fromkeys(profile_ids)
            if profile_id in accounts
            and (platforms is None or accounts[profile_id].platform in platforms)
        ]

        def stats_over(span: list[date]) -> list[ProfileStats]:
            return [
                profile_stats(a, seed=self.seed, location_id=location_id, days=span) for a in chosen
            ]

        results = build_statistics(
            stats_over(days),
            days=days,
            previous=None if previous is None else stats_over(previous),
        )
        # The spec's answer has no success/statusCode, unlike the other endpoints.
        answer = {
            "results": results,
            "message": "Analytics Built Successfully",
            "traceId": g.trace_id,
        }
        return jsonify(answer), status

    # -- OAuth 2.0 ---------------------------------------------------------------------------

    def choose_location(self) -> Response | tuple[str, int]:
        """`GET /oauth/chooselocation`: the install page, or a redirect once a choice is made.

        A choice is `location_id=L` (a Location install) or `agency=1` (a Company install of
        every location), with `approve=1`; `approve=0` declines (`error=access_denied`).
        """
        args = request.args
        client_id = args.get("client_id", "")
        redirect_uri = args.get("redirect_uri", "")
        scope = args.get("scope", "")
        state = args.get("state")
        client = self.oauth.client(client_id)
        problem = None
        if args.get("response_type") != "code":
            problem = "response_type must be code."
        elif client is None:
            problem = "This app (client_id) is not known to the marketplace."
        elif not client.allows(redirect_uri):
            problem = "The redirect_uri is not registered for this app."
        if problem is not None:
            page = render_template("chooselocation_error.html", problem=problem)
            return page, HTTPStatus.BAD_REQUEST
        approve = args.get("approve")
        if approve == "0":
            return _redirect_back(redirect_uri, {"error": "access_denied", "state": state})
        if approve == "1":
            location_id = None if args.get("agency") == "1" else args.get("location_id")
            if location_id is None and args.get("agency") != "1":
                return render_template(
                    "chooselocation_error.html", problem="Choose a location."
                ), HTTPStatus.BAD_REQUEST
            try:
                code = self.oauth.authorize(
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    scope=scope,
                    location_id=location_id,
                )
            except OAuthError as error:
                page = render_template("chooselocation_error.html", problem=error.description)
                return page, HTTPStatus.BAD_REQUEST
            log.info("sandbox.ghl.oauth_approved", location_id=location_id, client_id=client_id)
            return _redirect_back(redirect_uri, {"code": code, "state": state})
        hidden = {
            key: value
            for key, value in (
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("scope", scope),
                ("state", state),
            )
            if value is not None
        }
        page = render_template(
            "chooselocation.html",
            action=request.path,
            hidden=hidden,
            locations=self.location_ids(),
            company_id=self.oauth.company_id,
            scopes=scope.split(),
        )
        return page, HTTPStatus.OK

    def oauth_token(self) -> tuple[Response, int]:
        """`POST /oauth/token`: a code or a refresh token for a new pair."""
        try:
            answer = self.oauth.token(request.form.to_dict())
        except OAuthError as error:
            return _oauth_error_answer(error), error.status
        return jsonify(answer), HTTPStatus.OK

    def oauth_location_token(self) -> tuple[Response, int]:
        """`POST /oauth/locationToken`: a location token minted with an agency token."""
        try:
            answer = self.oauth.location_token(
                _bearer_token(),
                company_id=request.form["companyId"],
                location_id=request.form["locationId"],
            )
        except OAuthError as error:
            return _oauth_error_answer(error), error.status
        return jsonify(answer), HTTPStatus.OK

    # -- admin API ------------------------------------------------------------------------

    def admin_oauth(self) -> Response:
        """`GET /_sandbox/oauth`: counts, settings and live tokens (by fingerprint only)."""
        return jsonify(self.oauth.summary())

    def admin_oauth_settings(self) -> Response:
        """`POST /_sandbox/oauth/settings {"access_token_seconds"}`."""
        seconds = _admin_json().get("access_token_seconds")
        try:
            if seconds is None:
                raise ValueError("access_token_seconds: expected a number of seconds, 0 or more")
            self.oauth.set_access_token_seconds(seconds)
        except ValueError as error:
            return _admin_error(str(error))
        return jsonify({"access_token_seconds": self.oauth.access_token_seconds})

    def admin_oauth_client(self) -> Response | tuple[Response, int]:
        """`POST /_sandbox/oauth/clients`: register (or replace) a marketplace app."""
        data = _admin_json()
        client_id, secret = data.get("client_id"), data.get("client_secret")
        app_id = data.get("app_id")
        redirect_uris = data.get("redirect_uris", [])
        if not isinstance(client_id, str) or not client_id:
            return _admin_error("client_id: expected a non-empty string")
        if not isinstance(secret, str) or not secret:
            return _admin_error("client_secret: expected a non-empty string")
        if app_id is not None and (not isinstance(app_id, str) or not app_id):
            return _admin_error("app_id: expected a non-empty string")
        if not isinstance(redirect_uris, list) or not all(
            isinstance(uri, str) and uri for uri in redirect_uris
        ):
            return _admin_error("redirect_uris: expected a list of URIs")
        created = self.oauth.client(client_id) is None
        client = self.oauth.register_client(
            client_id, secret, app_id=app_id, redirect_uris=redirect_uris
        )
        answer = {
            "client_id": client.client_id,
            "app_id": client.app_id,
            "redirect_uris": list(client.redirect_uris),
            "created": created,
        }
        return jsonify(answer), HTTPStatus.CREATED if created else HTTPStatus.OK

    def admin_oauth_revoke(self) -> Response:
        """`POST /_sandbox/oauth/revoke {"location_id"}`: every token of the location dies."""
        location_id = _admin_json().get("location_id")
        if not isinstance(location_id, str) or not location_id:
            return _admin_error("location_id: expected a non-empty string")
        return jsonify({"location_id": location_id, "revoked": self.oauth.revoke(location_id)})

    def admin_oauth_expire(self) -> Response:
        """`POST /_sandbox/oauth/expire {"location_id"}`: its access tokens expire now."""
        location_id = _admin_json().get("location_id")
        if not isinstance(location_id, str) or not location_id:
            return _admin_error("location_id: expected a non-empty string")
        return jsonify({"location_id": location_id, "expired": self.oauth.expire(location_id)})

    def admin_oauth_clear_counts(self) -> Response:
        """`DELETE /_sandbox/oauth/counts`."""
        return jsonify({"cleared": self.oauth.clear_counts()})

    def admin_webhook_public_key(self) -> Response:
        """`GET /_sandbox/webhook-public-key`: the PEM app webhooks are verified with."""
        return Response(SANDBOX_WEBHOOK_PUBLIC_KEY_PEM, mimetype="application/x-pem-file")

    def admin_app_webhook(self) -> Response | tuple[Response, int]:
        """`POST /_sandbox/app-webhooks`: deliver a signed INSTALL or UNINSTALL now."""
        try:
            webhook = AppWebhook.from_json(_admin_json())
        except AppWebhookError as error:
            return _admin_error(str(error))
        try:
            delivery = deliver_app_webhook(webhook)
        except httpx.HTTPError as error:
            return _admin_error(f"delivery failed: {error}", HTTPStatus.BAD_GATEWAY)
        log.info(
            "sandbox.ghl.app_webhook",
            type=webhook.type,
            location_id=webhook.location_id,
            tamper=webhook.tamper,
            status=delivery["status"],
        )
        return jsonify(delivery), HTTPStatus.OK

    def admin_health(self) -> Response:
        """`GET /_sandbox/health`."""
        return jsonify({"status": "ok", "locations": self.location_ids()})

    def admin_add_fault(self) -> Response | tuple[Response, int]:
        """`POST /_sandbox/faults`: queue an injected answer or a delay."""
        try:
            fault = Fault.from_json(_admin_json())
        except FaultError as error:
            return _admin_error(str(error))
        self.faults.add(fault)
        return jsonify({"fault": fault.to_json()}), HTTPStatus.CREATED

    def admin_list_faults(self) -> Response:
        """`GET /_sandbox/faults`: faults still pending."""
        return jsonify({"faults": [fault.to_json() for fault in self.faults.pending()]})

    def admin_clear_faults(self) -> Response:
        """`DELETE /_sandbox/faults`."""
        return jsonify({"cleared": self.faults.clear()})

    def admin_journal(self) -> Response:
        """`GET /_sandbox/journal[?path_contains=]`: a list of every GHL request, oldest first."""
        return jsonify(self.journal.entries(path_contains=request.args.get("path_contains")))

    def admin_clear_journal(self) -> Response:
        """`DELETE /_sandbox/journal`: the entries and the counts."""
        self.counts.clear()
        return jsonify({"cleared": self.journal.clear()})

    def admin_journal_counts(self) -> Response:
        """`GET /_sandbox/journal/counts`: requests by endpoint and status since the last clear."""
        return jsonify(self.counts.snapshot())

    def admin_add_location(self) -> Response | tuple[Response, int]:
        """`POST /_sandbox/locations {"location_id", "token", "tags"}`: a new seeded location."""
        data = _admin_json()
        location_id = data.get("location_id")
        token = data.get("token")
        tag_count = data.get("tags", DEFAULT_TAG_COUNT)
        post_count = data.get("posts", POSTS_PER_LOCATION)
        if not isinstance(location_id, str) or not location_id or "/" in location_id:
            return _admin_error("location_id: expected a non-empty string without '/'")
        if not isinstance(token, str) or not token:
            return _admin_error("token: expected a non-empty string")
        if (
            not isinstance(tag_count, int)
            or isinstance(tag_count, bool)
            or not 0 <= tag_count <= MAX_SEEDED_TAGS
        ):
            return _admin_error(f"tags: expected an integer from 0 to {MAX_SEEDED_TAGS}")
        if (
            not isinstance(post_count, int)
            or isinstance(post_count, bool)
            or not 0 <= post_count <= MAX_SEEDED_POSTS
        ):
            return _admin_error(f"posts: expected an integer from 0 to {MAX_SEEDED_POSTS}")
        try:
            created = self.add_location(
                location_id, token, tag_count=tag_count, post_count=post_count
            )
        except ValueError as error:
            return _admin_error(str(error), HTTPStatus.CONFLICT)
        answer = {
            "location_id": location_id,
            "token": token,
            "tags": len(self.location(location_id).tags),
            "posts": len(self.location(location_id).posts),
            "created": created,
        }
        return jsonify(answer), HTTPStatus.CREATED if created else HTTPStatus.OK

    # -- errors ----------------------------------------------------------------------------

    def handle_ghl_error(self, error: GhlErrorAnswer) -> Response:
        return _error_answer(error.status, error.message)

    def handle_http_exception(self, error: HTTPException) -> Response:
        """404/405/500 in HighLevel's (NestJS) shape, or plain JSON on the admin API."""
        status = error.code or HTTPStatus.INTERNAL_SERVER_ERROR
        if _is_admin_request():
            return _admin_error(error.description or _phrase(status), status)
        if status in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED):
            # HighLevel (NestJS) answers an unknown method on a known path as an unknown route.
            return _error_answer(HTTPStatus.NOT_FOUND, f"Cannot {request.method} {request.path}")
        return _error_answer(status, _phrase(status))


def create_sandbox_ghl_app(
    *,
    tokens: Mapping[str, str] | None = None,
    seed: int = 0,
    rate_limit: int = 100,
    rate_window_seconds: float = 10.0,
    access_token_seconds: float = oauth.DEFAULT_ACCESS_TOKEN_SECONDS,
    latency_ms: int = 0,
) -> Flask:
    """A sandbox HighLevel server as a Flask app.

    `tokens` maps each accepted bearer token to the one location it is valid for (as a Private
    Integration token is); default `{"pit-sandbox-demo": "loc_demo"}`. Every location named
    there is seeded from `seed`. `rate_limit` requests per `rate_window_seconds` are allowed
    per location. OAuth access tokens live `access_token_seconds` (changeable at
    `/_sandbox/oauth/settings`). Every GHL answer is sent `latency_ms` late (changeable at
    `/_sandbox/latency`). The `SandboxGHL` state is at `app.extensions["sandbox_ghl"]`.
    """
    sandbox = SandboxGHL(
        tokens=DEFAULT_TOKENS if tokens is None else tokens,
        seed=seed,
        rate_limit=rate_limit,
        rate_window_seconds=rate_window_seconds,
        access_token_seconds=access_token_seconds,
        latency_ms=latency_ms,
    )
    app = Flask(__name__)
    app.extensions["sandbox_ghl"] = sandbox
    app.before_request(sandbox.before_request)
    app.after_request(sandbox.after_request)
    app.register_error_handler(GhlErrorAnswer, sandbox.handle_ghl_error)
    app.register_error_handler(HTTPException, sandbox.handle_http_exception)

    ghl = "/social-media-posting"
    # The GHL operations, each with the versions it answers in (the first is its main one).
    dated = (API_VERSION,)
    dated_and_v3 = (API_VERSION, API_VERSION_V3)
    # The scope an OAuth token needs for each (a Private Integration token has them all).
    ghl_routes = (
        (f"{ghl}/<location_id>/tags", "GET", sandbox.get_tags, dated, oauth.SCOPE_TAGS),
        (
            f"{ghl}/<location_id>/tags/details",
            "POST",
            sandbox.get_tag_details,
            dated,
            oauth.SCOPE_TAGS,
        ),
        (f"{ghl}/<location_id>/accounts", "GET", sandbox.get_accounts, dated, oauth.SCOPE_ACCOUNTS),
        (f"{ghl}/<location_id>/posts/<post_id>", "GET", sandbox.get_post, dated, oauth.SCOPE_POSTS),
        (f"{ghl}/statistics", "POST", sandbox.get_statistics, dated_and_v3, oauth.SCOPE_STATISTICS),
    )
    oauth_routes = (
        (OAUTH_TOKEN_PATH, "POST", sandbox.oauth_token),
        (OAUTH_LOCATION_TOKEN_PATH, "POST", sandbox.oauth_location_token),
        *((path, "GET", sandbox.choose_location) for path in CHOOSE_LOCATION_PATHS),
    )
    admin_routes = (
        (f"{ADMIN_PREFIX}/health", "GET", sandbox.admin_health),
        (f"{ADMIN_PREFIX}/faults", "POST", sandbox.admin_add_fault),
        (f"{ADMIN_PREFIX}/faults", "GET", sandbox.admin_list_faults),
        (f"{ADMIN_PREFIX}/faults", "DELETE", sandbox.admin_clear_faults),
        (f"{ADMIN_PREFIX}/journal", "GET", sandbox.admin_journal),
        (f"{ADMIN_PREFIX}/journal", "DELETE", sandbox.admin_clear_journal),
        (f"{ADMIN_PREFIX}/journal/counts", "GET", sandbox.admin_journal_counts),
        (f"{ADMIN_PREFIX}/locations", "POST", sandbox.admin_add_location),
        (f"{ADMIN_PREFIX}/oauth", "GET", sandbox.admin_oauth),
        (f"{ADMIN_PREFIX}/oauth/settings", "POST", sandbox.admin_oauth_settings),
        (f"{ADMIN_PREFIX}/oauth/clients", "POST", sandbox.admin_oauth_client),
        (f"{ADMIN_PREFIX}/oauth/revoke", "POST", sandbox.admin_oauth_revoke),
        (f"{ADMIN_PREFIX}/oauth/expire", "POST", sandbox.admin_oauth_expire),
        (f"{ADMIN_PREFIX}/oauth/counts", "DELETE", sandbox.admin_oauth_clear_counts),
        (f"{ADMIN_PREFIX}/webhook-public-key", "GET", sandbox.admin_webhook_public_key),
        (f"{ADMIN_PREFIX}/app-webhooks", "POST", sandbox.admin_app_webhook),
    )
    for rule, method, view, versions, scope in ghl_routes:
        endpoint = f"{method.lower()}_{rule}"
        app.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method])
        sandbox.versions[endpoint] = versions
        sandbox.scopes[endpoint] = scope
    for rule, method, oauth_view in oauth_routes:
        endpoint = f"{method.lower()}_{rule}"
        app.add_url_rule(rule, endpoint=endpoint, view_func=oauth_view, methods=[method])
    for rule, method, admin_view in admin_routes:
        endpoint = f"{method.lower()}_{rule}"
        app.add_url_rule(rule, endpoint=endpoint, view_func=admin_view, methods=[method])
    add_latency_routes(app, sandbox.latency)
    return app


# -- helpers -------------------------------------------------------------------------------


def _is_admin_request() -> bool:
    return request.path == ADMIN_PREFIX or request.path.startswith(f"{ADMIN_PREFIX}/")


def _is_oauth_request() -> bool:
    return request.path in (OAUTH_TOKEN_PATH, OAUTH_LOCATION_TOKEN_PATH)


def _redirect_back(redirect_uri: str, params: Mapping[str, str | None]) -> Response:
    """A 302 to the client's redirect URI with `params` added to any query it has."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    location = urlunsplit(parts._replace(query=urlencode(query)))
    return Response(status=HTTPStatus.FOUND, headers={"Location": location})


def _oauth_error_answer(error: OAuthError) -> Response:
    """An OAuth error in GHL's error DTO (`statusCode`, `message`) plus OAuth's own fields."""
    return jsonify(
        {
            "statusCode": error.status,
            "message": error.description,
            "error": error.error,
            "error_description": error.description,
            "traceId": g.trace_id,
        }
    )


# Form fields and answer fields of the OAuth operations that are credentials: the journal
# keeps a fingerprint (to tell one token from another) and never the value.
_SECRET_FIELDS = frozenset({"client_secret", "code", "refresh_token", "access_token"})


def _journal_body(raw: bytes) -> Any:
    """The request body for the journal: the OAuth forms with their credentials hidden."""
    if not _is_oauth_request():
        return _decoded_body(raw)
    return _without_secrets(request.form.to_dict())


def _journal_answer(body: Any) -> Any:
    if _is_oauth_request() and isinstance(body, dict):
        return _without_secrets(body)
    return body


def _without_secrets(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: oauth.fingerprint(str(value)) if key in _SECRET_FIELDS else value
        for key, value in fields.items()
    }


def _requested_location() -> str | None:
    """The location the request is about: in the path, or in the query for /statistics."""
    view_args = request.view_args or {}
    if "location_id" in view_args:
        return str(view_args["location_id"])
    if request.url_rule is not None and request.url_rule.rule.endswith("/statistics"):
        return request.args.get("locationId")
    return None


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


_RANGE_KEYS = ("currentRange", "prevRange")


def _v3_periods(body: Mapping[str, Any], today: date) -> tuple[list[date], list[date] | None]:
    """The days of v3's `currentRange` and of the comparison period (None: no comparison)."""
    current, previous = body.get("currentRange"), body.get("prevRange")
    if current is None:
        if previous is not None:
            raise GhlErrorAnswer(
                HTTPStatus.UNPROCESSABLE_ENTITY, "prevRange can only be provided with currentRange"
            )
        days = default_period(today)
        return days, previous_period(days)
    days = _range_days("currentRange", current)
    return days, None if previous is None else _range_days("prevRange", previous)


def _range_days(name: str, value: Any) -> list[date]:
    """Every UTC day from a range's `startDate` to its `endDate`, both included."""
    if not isinstance(value, Mapping):
        raise GhlErrorAnswer(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} must be an object")
    start = _utc_day(f"{name}.startDate", value.get("startDate"))
    end = _utc_day(f"{name}.endDate", value.get("endDate"))
    if end < start:
        raise GhlErrorAnswer(
            HTTPStatus.UNPROCESSABLE_ENTITY, f"{name}.endDate must be after {name}.startDate"
        )
    if (end - start).days >= STATISTICS_MAX_DAYS:
        raise GhlErrorAnswer(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"{name} must not span more than {STATISTICS_MAX_DAYS} days",
        )
    return period(start, end)


def _utc_day(name: str, value: Any) -> date:
    """The UTC day of an ISO 8601 date-time (one without an offset is taken as UTC)."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise GhlErrorAnswer(
            HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} must be a valid ISO 8601 date string"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).date()
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before the first UTC day
        raise GhlErrorAnswer(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} is out of range") from None


def _count_param(name: str, *, default: int, minimum: int) -> int:
    """A non-negative integer sent as a string (the spec types `limit`/`skip` as strings)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise GhlErrorAnswer(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} must be a number string")
    value = int(raw)
    if value < minimum:
        raise GhlErrorAnswer(
            HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} must not be less than {minimum}"
        )
    return value


def _success(status: int, message: str, results: dict[str, Any]) -> tuple[Response, int]:
    body = {
        "success": True,
        "statusCode": status,
        "message": message,
        "results": results,
        "traceId": g.trace_id,
    }
    return jsonify(body), status


def _error_answer(status: int, message: str | list[str]) -> Response:
    """HighLevel's error body: `{statusCode, message, error, traceId}`."""
    if status == HTTPStatus.UNPROCESSABLE_ENTITY and isinstance(message, str):
        message = [message]
    body = {
        "statusCode": status,
        "message": message,
        "error": _phrase(status),
        "traceId": g.get("trace_id") or str(uuid.uuid4()),
    }
    response = jsonify(body)
    response.status_code = status
    return response


def _fault_answer(fault: Fault) -> Response:
    assert fault.status is not None
    status = fault.status
    response = _error_answer(status, f"{_phrase(status)} (injected by the sandbox)")
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        retry_after = 1.0 if fault.retry_after is None else fault.retry_after
        response.headers["Retry-After"] = f"{retry_after:g}"
        response.headers["X-RateLimit-Remaining"] = "0"
    elif fault.retry_after is not None:
        response.headers["Retry-After"] = f"{fault.retry_after:g}"
    return response


def _journal_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request headers with the credential replaced by `***`, its scheme kept (`Bearer ***`).

    The scheme and the shape stay, so a journaled request can still be checked against the
    spec's security requirement; an empty credential stays visibly empty.
    """
    redacted = {}
    for name, value in headers:
        if name.lower() == "authorization":
            scheme, space, credential = value.partition(" ")
            if credential.strip():
                value = f"{scheme} ***"
            elif not space and scheme:
                value = "***"  # a bare token with no scheme
        redacted[name] = value
    return redacted


def _decoded_body(raw: bytes) -> Any:
    """The body as JSON when it is JSON, as text otherwise, None when empty."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _admin_json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _admin_error(message: str, status: int = HTTPStatus.BAD_REQUEST) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
