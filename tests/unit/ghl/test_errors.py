from __future__ import annotations

import httpx
import pytest
from marshmallow import ValidationError

from ghl.errors import (
    error_for_exception,
    error_for_invalid_body,
    error_for_oauth_status,
    error_for_status,
    ghl_message,
    is_scope_refusal,
    oauth_error_code,
    trace_id_of,
)
from socialbridge.errors import (
    AuthError,
    IntegrationError,
    OAuthGrantError,
    PermanentError,
    RetryableError,
    ScopeError,
)

SCOPE_MESSAGE = "The token is not authorized for this scope."


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, PermanentError),
        (401, AuthError),
        (403, AuthError),
        (404, PermanentError),
        (408, RetryableError),
        (409, PermanentError),
        (422, PermanentError),
        (429, RetryableError),
        (500, RetryableError),
        (503, RetryableError),
        (301, PermanentError),
    ],
)
def test_status_mapping(status: int, kind: type[Exception]) -> None:
    error = error_for_status(status, {}, {"statusCode": status, "message": "m"})

    assert type(error) is kind
    assert (error.system, error.status) == ("ghl", status)


def test_message_falls_back_to_error_then_to_the_status() -> None:
    assert error_for_status(404, {}, {"error": "Not Found"}).message == "Not Found"
    assert error_for_status(404, {}, None, reason="Not Found").message == "HTTP 404 Not Found"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message": "Bad tag"}, "Bad tag"),
        ({"message": ["a must be set", "b must be a string"]}, "a must be set; b must be a string"),
        ({"message": [], "error": "Unprocessable Entity"}, "Unprocessable Entity"),
        ({"statusCode": 400}, None),
        ("<html>", None),
        (None, None),
    ],
)
def test_ghl_message(body: object, message: str | None) -> None:
    assert ghl_message(body) == message


def test_trace_id_from_body_then_headers() -> None:
    assert trace_id_of({"x-trace-id": "h"}, {"traceId": "b"}) == "b"
    assert trace_id_of({"X-Trace-Id": "h"}, {"message": "m"}) == "h"
    assert trace_id_of({"traceid": "h2"}, None) == "h2"
    assert trace_id_of({}, ["not", "a", "dict"]) is None


def test_429_carries_the_delay() -> None:
    error = error_for_status(429, {"Retry-After": "3"}, None)

    assert isinstance(error, RetryableError)
    assert error.retry_after == 3.0


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("slow"), RetryableError),
        (httpx.PoolTimeout("pool"), RetryableError),
        (httpx.ConnectError("refused"), RetryableError),
        (httpx.ReadError("reset"), RetryableError),
        (httpx.RemoteProtocolError("closed early"), RetryableError),
        (httpx.ProxyError("proxy down"), RetryableError),
        (httpx.DecodingError("bad gzip"), RetryableError),
        (httpx.UnsupportedProtocol("ftp"), PermanentError),
        (httpx.LocalProtocolError("bad header"), PermanentError),
        (httpx.TooManyRedirects("loop"), PermanentError),
        (httpx.InvalidURL("bad url"), PermanentError),
    ],
)
def test_exception_mapping(exc: Exception, kind: type[Exception]) -> None:
    error = error_for_exception(exc, what="GET /x")

    assert type(error) is kind
    assert error.system == "ghl"
    assert "GET /x" in error.message
    assert type(exc).__name__ in error.message


def test_invalid_body_names_every_field() -> None:
    exc = ValidationError(
        {
            "results": {
                "tags": {0: {"_id": ["Missing data for required field."]}},
                "count": ["Not a valid integer."],
            }
        }
    )

    error = error_for_invalid_body(exc, what="tags", status=200, trace_id="t")

    assert error.message == (
        "unexpected tags body: results.tags.0._id: Missing data for required field.; "
        "results.count: Not a valid integer."
    )
    assert (error.status, error.trace_id) == (200, "t")


def test_invalid_body_of_the_wrong_type() -> None:
    error = error_for_invalid_body(
        ValidationError({"_schema": ["Invalid input type."]}), what="post"
    )

    assert error.message == "unexpected post body: (body): Invalid input type."


# -- scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        (SCOPE_MESSAGE, True),
        ("the token is NOT  authorised for this scope", True),
        ("This authClass type is not allowed to access this scope.", False),
        ("Invalid JWT", False),
        (None, False),
    ],
)
def test_is_scope_refusal(message: str | None, refused: bool) -> None:
    assert is_scope_refusal(message) is refused


@pytest.mark.parametrize("status", [401, 403])
def test_a_scope_refusal_names_the_scope_and_the_call(status: int) -> None:
    body = {"statusCode": status, "message": SCOPE_MESSAGE, "traceId": "t"}

    error = error_for_status(
        status, {}, body, scope="socialplanner/post.readonly", what="GET /p/L/posts/P"
    )

    assert isinstance(error, ScopeError)
    assert isinstance(error, AuthError)
    assert error.scope == "socialplanner/post.readonly"
    assert str(error) == (
        f"ghl: the token lacks scope socialplanner/post.readonly (GET /p/L/posts/P): "
        f"{SCOPE_MESSAGE} (HTTP {status}) [traceId t]"
    )


def test_a_scope_refusal_of_an_unknown_call_still_is_a_scope_error() -> None:
    error = error_for_status(401, {}, {"message": SCOPE_MESSAGE})

    assert isinstance(error, ScopeError)
    assert error.scope is None
    assert error.message == f"the token lacks a scope this call needs: {SCOPE_MESSAGE}"


def test_the_scope_message_on_another_status_is_not_a_scope_error() -> None:
    error = error_for_status(400, {}, {"message": SCOPE_MESSAGE}, scope="s")

    assert type(error) is PermanentError


# -- OAuth token endpoints -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": "invalid_grant", "error_description": "x"}, "invalid_grant"),
        (
            {"statusCode": 400, "message": "Invalid grant: refresh token is invalid"},
            "invalid_grant",
        ),
        ({"error_description": "Invalid client credentials"}, "invalid_client"),
        ({"message": "Invalid parameter: grantType"}, "invalid_request"),
        ({"message": "Missing parameter: clientId"}, "invalid_request"),
        ({"statusCode": 400, "message": "Location is not active", "error": "Bad Request"}, None),
        ({"error": "Unauthorized", "message": "Invalid JWT"}, None),
        ("invalid_grant", None),
        (None, None),
    ],
)
def test_oauth_error_code(body: object, code: str | None) -> None:
    assert oauth_error_code(body) == code


@pytest.mark.parametrize(
    ("status", "body", "client_authenticated", "kind", "code"),
    [
        (400, {"error": "invalid_grant"}, True, OAuthGrantError, "invalid_grant"),
        (401, {"error": "invalid_client"}, True, OAuthGrantError, "invalid_client"),
        (401, {"message": "Unauthorized"}, True, OAuthGrantError, "invalid_client"),
        (401, {"message": "Invalid JWT"}, False, AuthError, None),
        (401, {"error": "invalid_token", "message": "Invalid JWT"}, False, AuthError, None),
        (401, {"error": "insufficient_scope", "message": SCOPE_MESSAGE}, False, ScopeError, None),
        (400, {"error": "invalid_request"}, False, OAuthGrantError, "invalid_request"),
        (400, {"message": "Location is not active"}, True, PermanentError, None),
        (422, {"message": ["grant_type must be valid"]}, True, PermanentError, None),
        (429, {"message": "slow down"}, True, RetryableError, None),
        (503, {"error": "server_error"}, True, RetryableError, None),
    ],
)
def test_oauth_status_mapping(
    status: int,
    body: object,
    client_authenticated: bool,
    kind: type[IntegrationError],
    code: str | None,
) -> None:
    error = error_for_oauth_status(
        status,
        {},
        body,
        scope="oauth.write",
        what="POST /oauth/x",
        client_authenticated=client_authenticated,
    )

    assert type(error) is kind
    assert error.status == status
    assert getattr(error, "error", None) == code


def test_an_oauth_refusal_reads_as_code_description_and_call() -> None:
    body = {"error": "invalid_grant", "error_description": "used", "message": "ignored"}

    error = error_for_oauth_status(400, {}, body, what="POST /oauth/token")

    assert error.message == "invalid_grant: used (POST /oauth/token)"


def test_an_oauth_refusal_never_repeats_what_was_sent() -> None:
    body = {"error": "invalid_grant", "error_description": "token rt-1 is dead", "traceId": "t"}

    error = error_for_oauth_status(400, {}, body, what="POST /oauth/token", redact=["rt-1", ""])

    assert error.message == "invalid_grant: token *** is dead (POST /oauth/token)"
    assert error.trace_id == "t"
    scoped = error_for_oauth_status(
        401, {}, {"message": "agency-1: " + SCOPE_MESSAGE}, what="w", redact=["agency-1"]
    )
    assert "agency-1" not in str(scoped)
