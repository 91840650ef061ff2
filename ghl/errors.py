"""The one place where HighLevel's answers and httpx's exceptions become our error tree.

    status / exception                          raised as
    ------------------------------------------  ------------------------------------------
    401, 403                                    AuthError        (refresh once, then park)
    408, 429, 5xx                               RetryableError   (retry_after from headers)
    timeout, connection, protocol (httpx)       RetryableError
    2xx whose body is not JSON (a proxy page)   RetryableError
    400, 404, 422 and every other 4xx           PermanentError   (GHL's own message)
    2xx JSON that fails our schema              PermanentError   (names the field)
    3xx, invalid URL, unsupported scheme        PermanentError   (configuration)

GHL error bodies are `{statusCode, message, error}`; `message` is a string, or a list of
strings on 422.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import httpx
from marshmallow import ValidationError

from ghl.ratelimit import retry_delay
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError
from socialbridge.httputil import is_retryable_status

SYSTEM = "ghl"

_TRACE_HEADERS = ("x-trace-id", "traceid", "x-traceid")


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


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    reason: str = "",
    now: dt.datetime | None = None,
) -> IntegrationError:
    """The error for an answer that is not 2xx; `body` is its decoded JSON or None."""
    trace_id = trace_id_of(headers, body)
    message = ghl_message(body) or f"HTTP {status} {reason}".strip()
    if status in (401, 403):
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


def error_for_response(response: httpx.Response, body: Any) -> IntegrationError:
    """`error_for_status` for an httpx response whose JSON (or None) was already read."""
    return error_for_status(
        response.status_code, response.headers, body, reason=response.reason_phrase
    )


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
