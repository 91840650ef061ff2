"""The one place where HighLevel's answers and httpx's exceptions become our error tree.

    status / exception                          raised as
    ------------------------------------------  ------------------------------------------
    401, 403 with GHL's scope message           ScopeError       (names the endpoint's scope;
                                                                  a refresh cannot help)
    401, 403                                    AuthError        (refresh once, then park)
    408, 429, 5xx                               RetryableError   (retry_after from headers)
    timeout, connection, protocol (httpx)       RetryableError
    2xx whose body is not JSON (a proxy page)   RetryableError
    400, 404, 422 and every other 4xx           PermanentError   (GHL's own message)
    2xx JSON that fails our schema              PermanentError   (names the field)
    3xx, invalid URL, unsupported scheme        PermanentError   (configuration)

The OAuth token endpoints add one row, ahead of the others (`error_for_oauth_status`):

    400, 401 with an OAuth error code           OAuthGrantError  (`error`: invalid_grant, …)

GHL error bodies are `{statusCode, message, error}`; `message` is a string, or a list of
strings on 422. There, `error` is the HTTP reason ("Bad Request"); an OAuth refusal carries the
OAuth code instead (`invalid_grant`), or only a message ("Invalid grant: refresh token is
invalid", as `apps/v3/oauth-v3.json` shows), which `oauth_error_code` reads too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from typing import Any

import httpx
from marshmallow import ValidationError

from ghl.ratelimit import retry_delay
from socialbridge.errors import (
    AuthError,
    IntegrationError,
    OAuthGrantError,
    PermanentError,
    RetryableError,
    ScopeError,
)
from socialbridge.httputil import is_retryable_status

SYSTEM = "ghl"

_TRACE_HEADERS = ("x-trace-id", "traceid", "x-traceid")

# GHL's answer to a token without the scope an endpoint needs is "The token is not authorized
# for this scope." Matched loosely (case, spacing, punctuation) so that a reworded variant still
# counts; "This authClass type is not allowed to access this scope" (an agency token on a
# location endpoint) is another problem and stays a plain AuthError.
_SCOPE_REFUSAL = re.compile(r"not\s+authori[sz]ed\s+for\s+this\s+scope", re.IGNORECASE)

# An OAuth error code (RFC 6749 section 5.2, RFC 6750 section 3.1) is lower snake case; GHL's
# own `error` field holds an HTTP reason ("Bad Request") instead, which this does not match.
_OAUTH_CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")
# What the refusals of a bearer token say (RFC 6750); on the token endpoints these are not about
# a grant, so they map like any API call's 401 (AuthError, or ScopeError).
_BEARER_CODES = frozenset({"invalid_token", "insufficient_scope"})
# Refusals that carry only a message: the wording of GHL's files and docs, matched at the start.
_OAUTH_MESSAGES = (
    (re.compile(r"\s*invalid\s+grant\b", re.IGNORECASE), "invalid_grant"),
    (re.compile(r"\s*invalid\s+client\b", re.IGNORECASE), "invalid_client"),
    (re.compile(r"\s*(?:invalid|missing)\s+parameter\b", re.IGNORECASE), "invalid_request"),
)


def json_or_none(response: httpx.Response) -> Any:
    """The decoded JSON body of an answer, or None when there is none (empty, HTML, garbled)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


def trace_id_of(headers: Mapping[str, str], body: Any) -> str | None:
    """GHL's trace id: the `traceId` of a JSON body, else an `x-trace-id`/`traceid` header."""
    if isinstance(body, Mapping):
        trace_id = body.get("traceId")
        if isinstance(trace_id, str) and trace_id:
            return trace_id
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in _TRACE_HEADERS:
        if lowered.get(name):
            return lowered[name]
    return None


def ghl_message(body: Any) -> str | None:
    """The `message` of a GHL error body (a list on 422 is joined), else its `error`."""
    if not isinstance(body, Mapping):
        return None
    message = body.get("message")
    if isinstance(message, list):
        parts = [str(part) for part in message if str(part).strip()]
        if parts:
            return "; ".join(parts)
    elif isinstance(message, str) and message.strip():
        return message.strip()
    error = body.get("error")
    if isinstance(error, str) and error.strip():
        return error.strip()
    return None


def is_scope_refusal(message: str | None) -> bool:
    """Whether GHL's message says the token lacks the scope of the call."""
    return message is not None and _SCOPE_REFUSAL.search(message) is not None


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    reason: str = "",
    now: dt.datetime | None = None,
    scope: str | None = None,
    what: str | None = None,
) -> IntegrationError:
    """The error for an answer that is not 2xx; `body` is its decoded JSON or None.

    `scope` (the scope the endpoint needs) and `what` ("GET /path") name what a scope refusal
    was about, since GHL's message does not.
    """
    trace_id = trace_id_of(headers, body)
    said = ghl_message(body)
    message = said or f"HTTP {status} {reason}".strip()
    if status in (401, 403):
        if is_scope_refusal(said):
            lacking = f"scope {scope}" if scope else "a scope this call needs"
            where = f" ({what})" if what else ""
            return ScopeError(
                f"the token lacks {lacking}{where}: {message}",
                system=SYSTEM,
                scope=scope,
                status=status,
                trace_id=trace_id,
            )
        return AuthError(message, system=SYSTEM, status=status, trace_id=trace_id)
    if is_retryable_status(status):
        return RetryableError(
            message,
            system=SYSTEM,
            status=status,
            trace_id=trace_id,
            retry_after=retry_delay(status, headers, now=now),
        )
    if 400 <= status < 500:
        return PermanentError(message, system=SYSTEM, status=status, trace_id=trace_id)
    # httpx does not follow redirects for us: a 3xx means GHL_BASE_URL points somewhere wrong.
    location = {key.lower(): value for key, value in headers.items()}.get("location")
    where = f" to {location}" if location else ""
    return PermanentError(
        f"unexpected HTTP {status}{where}; check GHL_BASE_URL",
        system=SYSTEM,
        status=status,
        trace_id=trace_id,
    )


def error_for_response(
    response: httpx.Response, body: Any, *, scope: str | None = None
) -> IntegrationError:
    """`error_for_status` for an httpx response whose JSON (or None) was already read.

    `scope` is the one the endpoint needs; the request's method and path (never its query)
    say what was refused.
    """
    return error_for_status(
        response.status_code,
        response.headers,
        body,
        reason=response.reason_phrase,
        scope=scope,
        what=what_was_asked(response),
    )


def what_was_asked(response: httpx.Response) -> str | None:
    """The `GET /path` of the request a response answers (never its query), if it has one."""
    try:
        request = response.request
    except RuntimeError:  # a response built by hand, not received
        return None
    return f"{request.method} {request.url.path}"


def oauth_error_code(body: Any) -> str | None:
    """The OAuth error code of a refusal: its `error` field, else read from its message."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, str) and _OAUTH_CODE.fullmatch(error.strip()):
        return error.strip()
    for key in ("error_description", "message"):
        text = body.get(key)
        if isinstance(text, str):
            for pattern, code in _OAUTH_MESSAGES:
                if pattern.match(text):
                    return code
    return None


def error_for_oauth_status(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    reason: str = "",
    scope: str | None = None,
    what: str,
    client_authenticated: bool = False,
    redact: Collection[str] = (),
) -> IntegrationError:
    """The error for a refusal of an OAuth token endpoint (`/oauth/token`, `/oauth/locationToken`).

    A 400 or 401 with an OAuth error code is an `OAuthGrantError`. On the token endpoint
    (`client_authenticated`: the client's id and secret are the only credentials sent), a 401
    without a code can only mean the client was refused: `invalid_client`. Everything else maps
    as any GHL answer does, so a bad agency token on `/oauth/locationToken` is an AuthError and
    one without `oauth.write` a ScopeError. Every string of `redact` (the code, tokens and
    secret that were sent) is replaced by `***` in the message, should GHL ever echo one.
    """
    body = _redacted(body, redact)
    code = oauth_error_code(body)
    if code is None and status == 401 and client_authenticated:
        code = "invalid_client"
    if status in (400, 401) and code is not None and code not in _BEARER_CODES:
        description = _oauth_description(body) or f"HTTP {status} {reason}".strip()
        return OAuthGrantError(
            f"{code}: {description} ({what})",
            system=SYSTEM,
            error=code,
            status=status,
            trace_id=trace_id_of(headers, body),
        )
    return error_for_status(status, headers, body, reason=reason, scope=scope, what=what)


def _oauth_description(body: Any) -> str | None:
    """OAuth's `error_description`, else GHL's `message`."""
    if isinstance(body, Mapping):
        description = body.get("error_description")
        if isinstance(description, str) and description.strip():
            return description.strip()
    return ghl_message(body)


def _redacted(body: Any, secrets: Collection[str]) -> Any:
    """`body` with every string of `secrets` in its texts replaced by `***`."""
    if isinstance(body, str):
        for secret in secrets:
            if secret:
                body = body.replace(secret, "***")
        return body
    if isinstance(body, Mapping):
        return {key: _redacted(value, secrets) for key, value in body.items()}
    if isinstance(body, list):
        return [_redacted(item, secrets) for item in body]
    return body


def error_for_exception(exc: Exception, *, what: str) -> IntegrationError:
    """The error for an httpx exception raised while calling `what` (e.g. "GET /path")."""
    detail = f"{what}: {type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(f"timed out: {detail}", system=SYSTEM)
    # A scheme httpx cannot speak, or a request it refused to build, fails the same way again.
    if isinstance(
        exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.TooManyRedirects
    ):
        return PermanentError(detail, system=SYSTEM)
    if isinstance(exc, httpx.TransportError | httpx.DecodingError):
        return RetryableError(detail, system=SYSTEM)
    return PermanentError(detail, system=SYSTEM)


def error_for_unreadable_body(
    response: httpx.Response, *, trace_id: str | None = None
) -> RetryableError:
    """A 2xx that is not JSON: most often a proxy or maintenance page, so try again later."""
    content_type = response.headers.get("content-type", "no content type")
    return RetryableError(
        f"expected a JSON body, got {content_type} ({len(response.content)} bytes)",
        system=SYSTEM,
        status=response.status_code,
        trace_id=trace_id,
    )


def error_for_invalid_body(
    exc: ValidationError, *, what: str, status: int | None = None, trace_id: str | None = None
) -> PermanentError:
    """A 2xx JSON body that does not have the documented shape; the message names the fields."""
    problems = "; ".join(f"{field}: {message}" for field, message in _flatten(exc.messages))
    return PermanentError(
        f"unexpected {what} body: {problems}", system=SYSTEM, status=status, trace_id=trace_id
    )


def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Turn marshmallow's nested messages into ("results.tags.0._id", "Missing data…") pairs."""
    if isinstance(messages, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in messages.items():
            # `_schema` holds errors about the object itself (e.g. "Invalid input type").
            path = prefix if key == "_schema" else f"{prefix}.{key}".lstrip(".")
            pairs.extend(_flatten(value, path))
        return pairs
    if isinstance(messages, list):
        if all(isinstance(item, str) for item in messages):
            return [(prefix or "(body)", " ".join(messages))]
        return [pair for item in messages for pair in _flatten(item, prefix)]
    return [(prefix or "(body)", str(messages))]
