from __future__ import annotations

import httpx
import pytest
from marshmallow import ValidationError

from ghl.errors import (
    error_for_exception,
    error_for_invalid_body,
    error_for_status,
    ghl_message,
    trace_id_of,
)
from socialbridge.errors import AuthError, PermanentError, RetryableError


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
